"""Indoor rooms and half-indoor shots for the SynthCity photo collection.

A room is a box (x right, y forward, z up, metres; walls ``x = 0``, ``x = W``, ``y = 0``,
``y = D``) with a textured floor (planks, tiles, carpet, concrete), walls (paint, wallpaper
stripes, brick, wainscot), a ceiling with lights, windows (bright blown-out daylight, dusky or
dark at night), doors, pictures, and furniture-like boxes (cabinets, bookshelves, sofas, tables
with legs, plinths, columns). :func:`make_room` draws one (kinds :data:`ROOM_KINDS`), and
:func:`render_room` ray-casts it with a pinhole camera: every pixel's ray hits the room's box
from inside (nearest of the six planes) or a furniture box (slab test, evaluated only inside the
box's projected bounding rectangle). Shading: ambient light darkened near the room's edges,
ceiling lights (point lights, no shadows) and, by day, the windows as area lights; the linear
radiance goes through SynthCity's camera response (:func:`.conditions.camera_response_planes`:
exposure, noise and, at night, the night-camera effects of :mod:`.sensor`), so indoor photos
share the sensor look of the street renders.

Half-indoor shots (:func:`half_indoor`): a room whose front wall has an opening (a door, or an
arcade's wide opening between pillars); the camera stands behind it, and the opening shows the
given outdoor render of the same view direction.

Determinism: geometry and shading use exactly rounded float32 operations only (+ - * / sqrt,
min/max, floor); transcendental functions are Python ``math`` on scalars; all randomness comes
from the given generator.

Modules: :mod:`.layout` (drawing a room), :mod:`.trace` (ray casting), :mod:`.albedo`
(materials), :mod:`.lighting` (shading), :mod:`.shots` (photos and half-indoor frames).
"""

from __future__ import annotations

from .layout import HALF_KINDS, ROOM_KINDS, make_room
from .shots import half_indoor, indoor_image, render_room

__all__ = ["HALF_KINDS", "ROOM_KINDS", "half_indoor", "indoor_image", "make_room", "render_room"]
