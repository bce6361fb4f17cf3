// A real js-libp2p peer (npm: libp2p, @libp2p/tcp, @chainsafe/libp2p-noise,
// @chainsafe/libp2p-yamux, @libp2p/identify, @libp2p/ping) for the validation set: the
// TCP connection opens with multistream-select and negotiates Noise, then yamux inside
// it, exactly as Filecoin's lotus and IPFS's kubo peers do (libp2p/specs
// connections/README.md). Nothing here is Filecoin: the same peers make the "IPFS-style"
// negative, and the Filecoin capture adds DNS lookups of Filecoin's names beside them.
//
//   node libp2p_peer.mjs listen HOST PORT SECONDS
//       prints its multiaddr (with /p2p/<peer id>) on one line, answers pings
//   node libp2p_peer.mjs dial MULTIADDR SECONDS MIN_GAP MAX_GAP [A_NAMES [TXT_NAMES]]
//       dials (a /dns/ or /dnsaddr/ MULTIADDR is resolved by libp2p through the system
//       resolver: the lab's DNS stub), pings every MIN_GAP..MAX_GAP s, closes and dials
//       again every fifth ping; before each dial it also resolves A_NAMES (A records) and
//       TXT_NAMES (TXT), comma-separated, as lotus resolves drand's servers and relays
//
// Both end by themselves after SECONDS (bounded traffic, addresses of the lab only).
// Runs from a directory whose node_modules holds the packages (ES modules ignore
// NODE_PATH), with `node --import ./libp2p_polyfill.mjs` on node 20.
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import { Resolver } from 'node:dns/promises'

const [mode, ...args] = process.argv.slice(2)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function peer (listen) {
  return createLibp2p({
    addresses: { listen },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() }
  })
}

if (mode === 'listen') {
  const [host, port, seconds] = args
  const node = await peer([`/ip4/${host}/tcp/${port}`])
  console.log(node.getMultiaddrs()[0].toString())
  await sleep(Number(seconds) * 1000)
  await node.stop()
} else if (mode === 'dial') {
  const [addr, seconds, minGap, maxGap, aNames = '', txtNames = ''] = args
  const split = (text) => text.split(',').filter((name) => name)
  const lookups = async () => {
    const resolver = new Resolver()
    for (const name of split(aNames)) {
      await resolver.resolve4(name).then((ips) => console.log(`A ${name} ${ips}`),
        (err) => console.log(`A ${name} failed: ${err.code}`))
    }
    for (const name of split(txtNames)) {
      await resolver.resolveTxt(name).then((txt) => console.log(`TXT ${name} ${txt.flat()}`),
        (err) => console.log(`TXT ${name} failed: ${err.code}`))
    }
  }
  const node = await peer([])
  const end = Date.now() + Number(seconds) * 1000
  const target = multiaddr(addr)
  let pings = 0
  let dials = 0
  while (Date.now() < end) {
    if (pings % 5 === 0) {
      await lookups()
    }
    try {
      const rtt = await node.services.ping.ping(target)
      pings += 1
      console.log(`ping ${pings} ${rtt} ms`)
    } catch (err) {
      console.log(`ping failed: ${err.message}`)
    }
    // now and then the connection is closed and the next ping dials afresh: several
    // connections per capture, each with its own multistream-select opener
    if (pings % 5 === 0) {
      await node.hangUp(target)
      dials += 1
    }
    const gap = Number(minGap) + Math.random() * (Number(maxGap) - Number(minGap))
    await sleep(Math.min(gap * 1000, Math.max(0, end - Date.now())))
  }
  console.log(`done: ${pings} pings, ${dials} hang-ups`)
  await node.stop()
} else {
  console.error('usage: libp2p_peer.mjs listen HOST PORT SECONDS | dial MULTIADDR SECONDS MIN MAX')
  process.exit(2)
}
