"""Source stage: turn capture files, stdin or directories into batches of raw records.

A *record batch* is one block of bytes read from a capture plus numpy arrays that locate
every packet in it (offset, captured and wire length, timestamp, link type). Nothing
here looks inside a packet; that is the decode stage's job.
"""

from detector.source.batch import RecordBatch
from detector.source.inputs import CaptureInput, expand_inputs, read_capture

__all__ = ["CaptureInput", "RecordBatch", "expand_inputs", "read_capture"]
