"""Streaming over HTTPS: adaptive video and music, periodic requests with big answers.

Assumptions:

* **Video** (``video-stream``, DASH/HLS players): a manifest (2-20 KB), a start-up burst
  of 3-6 segments back to back, then one segment per segment duration (2, 4, 6 or 10 s)
  once the buffer is full. Bitrate log-normal around 1 Mbit/s (0.3-4: phones and
  480p-720p), a segment = bitrate x duration (+-10 %), delivered at the path's rate
  (log-normal around 40 Mbit/s). Captured stretches of 20-60 s (segments are big; the
  corpus keeps them short).
* **Music** (``music-stream``): Spotify-style chunked fetches - a first chunk of 0.3-1 MB,
  then 100-300 KB every 10-40 s for a 96-320 kbit/s stream; 1-3 minutes.
* Requests 400-900 bytes; over TLS (h2 or HTTP/1.1) to CDN names on 443.
"""

from __future__ import annotations

import math
from random import Random

from detector.synth.corpus.engine import Script, Stream
from detector.synth.corpus.flow import Env, Flow, S
from detector.synth.corpus.negatives.base import LongLived, flows_for, pace_of, periodic, size
from detector.synth.corpus.net import Host

VIDEO = (
    ("rr3---sn-4g5e6nsz.googlevideo.com", "gcp"),
    ("ipv4-c071-fra002-ix.1.oca.nflxvideo.net", "aws"),
    ("video-weaver.fra05.hls.ttvnw.net", "aws"),
    ("vod-adaptive-ak.vimeocdn.com", "cloudflare"),
    ("scontent.cdninstagram.com", "aws"),
)
MUSIC = (
    ("audio-ak-spotify-com.akamaized.net", "aws"),
    ("audio-fa.scdn.co", "gcp"),
    ("sf16-ies-music-va.tiktokcdn.com", "aws"),
    ("streams.deezer.com", "ovh"),
)


class Video(LongLived):
    kind = "video-stream"
    templates = ("curl-h2", "node-tls", "curl-http11", "java-jsse")
    close_weights = (0.7, 0.2, 0.1)

    def prepare(self, rng: Random) -> None:
        self.seg = float(rng.choice((2, 4, 6, 10)))
        self.rate = min(4e6, max(3e5, rng.lognormvariate(math.log(1e6), 0.5)))
        self.pace = pace_of(min(300e6, max(5e6, rng.lognormvariate(math.log(40e6), 0.7))))
        self.job_interval = 0.0

    def _segment(self, rng: Random) -> Script:
        n = int(self.rate * self.seg / 8 * rng.uniform(0.9, 1.1))
        return [("c", rng.randint(400, 900)), ("s", n)]

    def hello(self, rng: Random, t: int) -> Script:
        out: Script = [("c", rng.randint(400, 900)), ("s", size(rng, 6000, 0.8, 2000, 20000))]
        for _ in range(rng.randint(3, 6)):
            out += self._segment(rng)
        return out

    def streams(self, rng: Random) -> list[Stream]:
        return [Stream(periodic(rng, self.seg, 0.05), lambda ts: self._segment(rng))]


class Music(Video):
    kind = "music-stream"

    def prepare(self, rng: Random) -> None:
        self.every = rng.uniform(10, 40)
        self.chunk = size(rng, 180_000, 0.4, 100_000, 300_000)
        self.pace = pace_of(min(200e6, max(3e6, rng.lognormvariate(math.log(30e6), 0.7))))

    def hello(self, rng: Random, t: int) -> Script:
        return [("c", rng.randint(400, 900)), ("s", size(rng, 500_000, 0.4, 300_000, 1_000_000))]

    def streams(self, rng: Random) -> list[Stream]:
        def chunk(ts: int) -> Script:
            return [("c", rng.randint(400, 900)), ("s", int(self.chunk * rng.uniform(0.8, 1.2)))]

        return [Stream(periodic(rng, self.every, 0.1), chunk)]


def plan(kind: str, env: Env, host: Host, rng: Random, start: int, nat: bool) -> list[Flow]:
    if kind == "video-stream":
        cls, names, dur = Video, VIDEO, int(rng.uniform(20, 60) * S)
    else:
        cls, names, dur = Music, MUSIC, int(rng.uniform(60, 180) * S)
    return flows_for(
        cls,
        env,
        host,
        rng,
        start,
        server=rng.choice(names),
        port=443,
        tls=True,
        nat=nat,
        duration=dur,
        dns_p=0.8,
    )
