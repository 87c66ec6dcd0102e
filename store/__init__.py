"""The store every layer stands on: data model, loaders, ingest, the on-disk workspace,
checkpoints and the bundled sample."""
