"""Pure detection: value types, log parsers, detectors. No I/O, no clocks."""
