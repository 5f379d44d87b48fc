"""metarl.report: results on disk, figures, learning curves and env throughput."""
