"""Reading and writing data: files, the dataset registry, downloads, loaders, harmonization, QC."""
