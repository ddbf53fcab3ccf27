"""Query-set builder: from a bounding box (Flickr) or a local folder to a clean night query set.

Stages (one module each, one Snakemake rule each, every output a table keyed by ``photo_id``;
their order, tables and rule names are data: :data:`.stages.STAGES`):

- sources: :mod:`.flickr` (Flickr API, sliced search, polite download, resume) and
  :mod:`.folder` (local photos with EXIF GPS) -> ``photos.parquet`` (:data:`.table.PHOTO_COLUMNS`),
- :mod:`.classify` indoor/outdoor (EfficientNet, 10 indoorness levels + panoramic) and day/night
  (MobileNetV2 and the brightness rule),
- :mod:`.dedup` near-duplicate bursts (perceptual hash + distance + descriptor similarity),
- :mod:`.relabel` manual geotag corrections (local web page -> CSV applied by the next run),
- :mod:`.geotag` the database-positive check (a query needs a database image within 25 m),
- :mod:`.choropleth` and :mod:`.funnel`: the map of kept queries and the funnel table.
"""
