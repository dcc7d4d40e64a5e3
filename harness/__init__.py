"""Benchmark predictors by how well they compress."""

__version__ = "0.2.0"  # 0.2: .hz format 3 (compact header, a CRC per segment): sizes differ from 0.1
