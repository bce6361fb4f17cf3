"""minewatch's benchmark: capture generator (make_capture) and runner (run). See README.md."""
