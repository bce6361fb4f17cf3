// Promise.withResolvers (ES2024) for node 20, which Debian 12 ships: js-libp2p 3's
// it-queue calls it, and node has it only from 22 on. Loaded with `node --import`.
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
