"""Transfer-set augmentation: synthetic inputs for the teacher to label (``kdistill.augment.tabular`` for tables)."""
