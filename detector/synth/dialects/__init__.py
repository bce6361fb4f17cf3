"""One module per mining dialect: every client's and pool's message shapes, written once.

Each module holds, for its dialect (named by the constants of :mod:`detector.dialects`):

* the message writers, one per real client or pool shape, each naming the source its
  format was read from (the program's code, or its published logs when closed source);
* the pool-side job generators that fill the messages with plausible values;
* the session writers that play a whole connection: scripted into a
  :class:`~detector.synth.conversation.Conversation` (the fixtures), or as a streamed
  :class:`~detector.synth.dialects.base.Session` that :mod:`detector.synth.mix` drives
  (the benchmark).
"""
