/* QUIC Initial protection: AES-128, AES-128-GCM, SHA-256, HMAC and HKDF (twin:
   dissect/quic.py with the `cryptography` package, hmac and hashlib). */

#include "fast.h"

/* ---- QUIC Initial protection (dissect/quic.py; twin: the `cryptography` package) ----
 * AES-128 (FIPS-197) block encryption, for header protection (RFC 9001 §5.4.3: AES-ECB
 * of one sample), and AES-128-GCM decryption with tag check (NIST SP 800-38D), for an
 * Initial's payload (§5.3). The keys are public (derived from the packet itself), so no
 * constant-time care is taken. Tables: T-tables built from the S-box, which is computed
 * at first use (multiplicative inverse in GF(2^8) and the affine map); GHASH by 4-bit
 * tables (Shoup's method). */

static uint8_t aes_sbox[256];
static uint32_t aes_te[4][256];
static int aes_ready = 0;

static uint8_t rotl8(uint8_t x, int n) { return (uint8_t)((x << n) | (x >> (8 - n))); }

static void aes_init_tables(void) {
    uint8_t p = 1, q = 1;
    do { /* p runs over the generator 3's powers, q over their inverses */
        p = (uint8_t)(p ^ (p << 1) ^ ((p & 0x80) ? 0x1B : 0));
        q ^= (uint8_t)(q << 1);
        q ^= (uint8_t)(q << 2);
        q ^= (uint8_t)(q << 4);
        if (q & 0x80) q ^= 0x09;
        aes_sbox[p] = (uint8_t)(q ^ rotl8(q, 1) ^ rotl8(q, 2) ^ rotl8(q, 3) ^ rotl8(q, 4) ^ 0x63);
    } while (p != 1);
    aes_sbox[0] = 0x63;
    for (int x = 0; x < 256; x++) {
        uint32_t s = aes_sbox[x];
        uint32_t s2 = (uint32_t)(uint8_t)((s << 1) ^ ((s & 0x80) ? 0x1B : 0));
        uint32_t s3 = s2 ^ s;
        uint32_t w = (s2 << 24) | (s << 16) | (s << 8) | s3;
        aes_te[0][x] = w;
        aes_te[1][x] = (w >> 8) | (w << 24);
        aes_te[2][x] = (w >> 16) | (w << 16);
        aes_te[3][x] = (w >> 24) | (w << 8);
    }
    aes_ready = 1;
}

static void aes128_expand(const unsigned char *key, uint32_t rk[44]) {
    static const uint32_t rcon[10] = {0x01000000, 0x02000000, 0x04000000, 0x08000000, 0x10000000,
                                      0x20000000, 0x40000000, 0x80000000, 0x1B000000, 0x36000000};
    if (!aes_ready) aes_init_tables();
    for (int i = 0; i < 4; i++) rk[i] = rd32(key + 4 * i, 0);
    for (int i = 4; i < 44; i++) {
        uint32_t t = rk[i - 1];
        if (i % 4 == 0) {
            t = ((uint32_t)aes_sbox[(t >> 16) & 0xFF] << 24) | ((uint32_t)aes_sbox[(t >> 8) & 0xFF] << 16) |
                ((uint32_t)aes_sbox[t & 0xFF] << 8) | (uint32_t)aes_sbox[t >> 24];
            t ^= rcon[i / 4 - 1];
        }
        rk[i] = rk[i - 4] ^ t;
    }
}

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void aes128_block(const uint32_t rk[44], const unsigned char in[16], unsigned char out[16]) {
    uint32_t s0 = rd32(in, 0) ^ rk[0], s1 = rd32(in + 4, 0) ^ rk[1];
    uint32_t s2 = rd32(in + 8, 0) ^ rk[2], s3 = rd32(in + 12, 0) ^ rk[3];
    uint32_t t0, t1, t2, t3;
    for (int r = 1; r < 10; r++) {
        const uint32_t *k = rk + 4 * r;
        t0 = aes_te[0][s0 >> 24] ^ aes_te[1][(s1 >> 16) & 0xFF] ^ aes_te[2][(s2 >> 8) & 0xFF] ^ aes_te[3][s3 & 0xFF] ^ k[0];
        t1 = aes_te[0][s1 >> 24] ^ aes_te[1][(s2 >> 16) & 0xFF] ^ aes_te[2][(s3 >> 8) & 0xFF] ^ aes_te[3][s0 & 0xFF] ^ k[1];
        t2 = aes_te[0][s2 >> 24] ^ aes_te[1][(s3 >> 16) & 0xFF] ^ aes_te[2][(s0 >> 8) & 0xFF] ^ aes_te[3][s1 & 0xFF] ^ k[2];
        t3 = aes_te[0][s3 >> 24] ^ aes_te[1][(s0 >> 16) & 0xFF] ^ aes_te[2][(s1 >> 8) & 0xFF] ^ aes_te[3][s2 & 0xFF] ^ k[3];
        s0 = t0; s1 = t1; s2 = t2; s3 = t3;
    }
    const uint32_t *k = rk + 40;
#define AES_LAST(a, b, c, d) \
    (((uint32_t)aes_sbox[(a) >> 24] << 24) | ((uint32_t)aes_sbox[((b) >> 16) & 0xFF] << 16) | \
     ((uint32_t)aes_sbox[((c) >> 8) & 0xFF] << 8) | (uint32_t)aes_sbox[(d) & 0xFF])
    put32(out, AES_LAST(s0, s1, s2, s3) ^ k[0]);
    put32(out + 4, AES_LAST(s1, s2, s3, s0) ^ k[1]);
    put32(out + 8, AES_LAST(s2, s3, s0, s1) ^ k[2]);
    put32(out + 12, AES_LAST(s3, s0, s1, s2) ^ k[3]);
#undef AES_LAST
}

typedef struct { uint64_t hi, lo; } u128;

static uint64_t rd64(const unsigned char *p) {
    return ((uint64_t)rd32(p, 0) << 32) | (uint64_t)rd32(p + 4, 0);
}

static void gcm_init_4bit(u128 table[16], const unsigned char h[16]) {
    u128 v = {rd64(h), rd64(h + 8)};
    table[0].hi = table[0].lo = 0;
    table[8] = v;
    for (int i = 4; i > 0; i >>= 1) { /* v * x^-1, reduced: H/2, H/4, H/8 */
        uint64_t t = 0xE100000000000000ULL & (0 - (v.lo & 1));
        v.lo = (v.hi << 63) | (v.lo >> 1);
        v.hi = (v.hi >> 1) ^ t;
        table[i] = v;
    }
    for (int i = 2; i < 16; i <<= 1)
        for (int j = 1; j < i; j++) {
            table[i + j].hi = table[i].hi ^ table[j].hi;
            table[i + j].lo = table[i].lo ^ table[j].lo;
        }
}

static const uint64_t gcm_rem_4bit[16] = {
    0x0000ULL << 48, 0x1C20ULL << 48, 0x3840ULL << 48, 0x2460ULL << 48,
    0x7080ULL << 48, 0x6CA0ULL << 48, 0x48C0ULL << 48, 0x54E0ULL << 48,
    0xE100ULL << 48, 0xFD20ULL << 48, 0xD940ULL << 48, 0xC560ULL << 48,
    0x9180ULL << 48, 0x8DA0ULL << 48, 0xA9C0ULL << 48, 0xB5E0ULL << 48,
};

/* x := x * H in GF(2^128), GCM's bit order */
static void gcm_gmult_4bit(unsigned char x[16], const u128 table[16]) {
    int cnt = 15;
    unsigned nlo = x[15], nhi = nlo >> 4, rem;
    nlo &= 0xF;
    u128 z = table[nlo];
    for (;;) {
        rem = (unsigned)(z.lo & 0xF);
        z.lo = (z.hi << 60) | (z.lo >> 4);
        z.hi = (z.hi >> 4) ^ gcm_rem_4bit[rem];
        z.hi ^= table[nhi].hi;
        z.lo ^= table[nhi].lo;
        if (--cnt < 0) break;
        nlo = x[cnt];
        nhi = nlo >> 4;
        nlo &= 0xF;
        rem = (unsigned)(z.lo & 0xF);
        z.lo = (z.hi << 60) | (z.lo >> 4);
        z.hi = (z.hi >> 4) ^ gcm_rem_4bit[rem];
        z.hi ^= table[nlo].hi;
        z.lo ^= table[nlo].lo;
    }
    put32(x, (uint32_t)(z.hi >> 32));
    put32(x + 4, (uint32_t)z.hi);
    put32(x + 8, (uint32_t)(z.lo >> 32));
    put32(x + 12, (uint32_t)z.lo);
}

static void gcm_ghash(unsigned char x[16], const u128 table[16], const unsigned char *data, Py_ssize_t len) {
    while (len > 0) {
        Py_ssize_t n = len < 16 ? len : 16;
        for (Py_ssize_t i = 0; i < n; i++) x[i] ^= data[i];
        gcm_gmult_4bit(x, table);
        data += n;
        len -= n;
    }
}

/* aes128_block(key, block) -> the 16-byte AES-128 encryption of one block */
PyObject *aes128_block_py(PyObject *self, PyObject *args) {
    Py_buffer key, block;
    if (!PyArg_ParseTuple(args, "y*y*", &key, &block))
        return NULL;
    PyObject *out = NULL;
    if (key.len != 16 || block.len != 16) {
        PyErr_SetString(PyExc_ValueError, "aes128_block: a 16-byte key and a 16-byte block");
    } else {
        uint32_t rk[44];
        unsigned char buf[16];
        aes128_expand((const unsigned char *)key.buf, rk);
        aes128_block(rk, (const unsigned char *)block.buf, buf);
        out = PyBytes_FromStringAndSize((const char *)buf, 16);
    }
    PyBuffer_Release(&key);
    PyBuffer_Release(&block);
    return out;
}

/* aes128_gcm_open(key, nonce, data, aad) -> plaintext, or None when the tag (the last
 * 16 bytes of data) does not match: cryptography's AESGCM(key).decrypt(nonce, data,
 * aad) without the exception. 12-byte nonces only (QUIC's). */
PyObject *aes128_gcm_open(PyObject *self, PyObject *args) {
    Py_buffer key, nonce, data, aad;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &key, &nonce, &data, &aad))
        return NULL;
    PyObject *out = NULL;
    if (key.len != 16 || nonce.len != 12) {
        PyErr_SetString(PyExc_ValueError, "aes128_gcm_open: a 16-byte key and a 12-byte nonce");
        goto done;
    }
    if (data.len < 16) {
        out = Py_None;
        Py_INCREF(out);
        goto done;
    }
    {
        uint32_t rk[44];
        u128 table[16];
        unsigned char h[16] = {0}, j0[16], ctr[16], ks[16], x[16] = {0}, lens[16];
        const unsigned char *ct = (const unsigned char *)data.buf;
        Py_ssize_t ct_len = data.len - 16;
        aes128_expand((const unsigned char *)key.buf, rk);
        aes128_block(rk, h, h);
        gcm_init_4bit(table, h);
        gcm_ghash(x, table, (const unsigned char *)aad.buf, aad.len);
        gcm_ghash(x, table, ct, ct_len);
        uint64_t abits = (uint64_t)aad.len * 8, cbits = (uint64_t)ct_len * 8;
        put32(lens, (uint32_t)(abits >> 32));
        put32(lens + 4, (uint32_t)abits);
        put32(lens + 8, (uint32_t)(cbits >> 32));
        put32(lens + 12, (uint32_t)cbits);
        gcm_ghash(x, table, lens, 16);
        memcpy(j0, nonce.buf, 12);
        put32(j0 + 12, 1);
        aes128_block(rk, j0, ks);
        unsigned diff = 0;
        for (int i = 0; i < 16; i++) diff |= (unsigned)(ks[i] ^ x[i] ^ ct[ct_len + i]);
        if (diff) {
            out = Py_None;
            Py_INCREF(out);
            goto done;
        }
        out = PyBytes_FromStringAndSize(NULL, ct_len);
        if (out == NULL) goto done;
        unsigned char *pt = (unsigned char *)PyBytes_AS_STRING(out);
        memcpy(ctr, j0, 16);
        uint32_t counter = 1;
        for (Py_ssize_t off = 0; off < ct_len; off += 16) {
            put32(ctr + 12, ++counter);
            aes128_block(rk, ctr, ks);
            Py_ssize_t n = ct_len - off < 16 ? ct_len - off : 16;
            for (Py_ssize_t i = 0; i < n; i++) pt[off + i] = ct[off + i] ^ ks[i];
        }
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&data);
    PyBuffer_Release(&aad);
    return out;
}

/* ---- QUIC Initial keys (dissect/quic.py client_keys; twin: hmac/hashlib there) ----
 * SHA-256 (FIPS 180-4), HMAC (RFC 2104) and TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1)
 * with an empty context, one block of output: the five HMACs of an Initial's keys
 * (RFC 9001 §5.2) without a Python call and an OpenSSL context each. */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR32(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_compress(uint32_t h[8], const unsigned char *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = rd32(p + 4 * i, 0);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    /* eight rounds per pass with the variables renamed, not moved */
#define SHA256_ROUND(a, b, c, d, e, f, g, h, i)                                                  \
    do {                                                                                         \
        uint32_t t1 = h + (ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25)) + (g ^ (e & (f ^ g))) +     \
                      sha256_k[i] + w[i];                                                        \
        uint32_t t2 = (ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22)) + ((a & b) | (c & (a | b)));   \
        d += t1;                                                                                 \
        h = t1 + t2;                                                                             \
    } while (0)
    for (int i = 0; i < 64; i += 8) {
        SHA256_ROUND(a, b, c, d, e, f, g, hh, i);
        SHA256_ROUND(hh, a, b, c, d, e, f, g, i + 1);
        SHA256_ROUND(g, hh, a, b, c, d, e, f, i + 2);
        SHA256_ROUND(f, g, hh, a, b, c, d, e, i + 3);
        SHA256_ROUND(e, f, g, hh, a, b, c, d, i + 4);
        SHA256_ROUND(d, e, f, g, hh, a, b, c, i + 5);
        SHA256_ROUND(c, d, e, f, g, hh, a, b, i + 6);
        SHA256_ROUND(b, c, d, e, f, g, hh, a, i + 7);
    }
#undef SHA256_ROUND
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}

typedef struct {
    uint32_t h[8];
    unsigned char buf[64];
    size_t used;
    uint64_t total;
} sha256_ctx;

static void sha256_init(sha256_ctx *c) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, iv, sizeof iv);
    c->used = 0;
    c->total = 0;
}

static void sha256_update(sha256_ctx *c, const unsigned char *p, size_t n) {
    c->total += n;
    while (n > 0) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used == 64) {
            sha256_compress(c->h, c->buf);
            c->used = 0;
        }
    }
}

static void sha256_final(sha256_ctx *c, unsigned char out[32]) {
    uint64_t bits = c->total * 8;
    unsigned char pad[72] = {0x80};
    size_t padlen = (c->used < 56 ? 56 : 120) - c->used;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_update(c, pad, padlen + 8);
    for (int i = 0; i < 8; i++) put32(out + 4 * i, c->h[i]);
}

/* HMAC-SHA256 with its key's two padded blocks hashed once (several messages under one
 * key: the Initial secret's three labels) */
typedef struct {
    sha256_ctx inner, outer;
} hmac_key;

static void hmac_init(hmac_key *hk, const unsigned char *key, size_t klen) {
    unsigned char k[64] = {0}, pad[64];
    if (klen > 64) {
        sha256_ctx c;
        sha256_init(&c);
        sha256_update(&c, key, klen);
        sha256_final(&c, k);
    } else {
        memcpy(k, key, klen);
    }
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x36;
    sha256_init(&hk->inner);
    sha256_update(&hk->inner, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] = k[i] ^ 0x5c;
    sha256_init(&hk->outer);
    sha256_update(&hk->outer, pad, 64);
}

static void hmac_with(const hmac_key *hk, const unsigned char *msg, size_t mlen, unsigned char out[32]) {
    unsigned char inner[32];
    sha256_ctx c = hk->inner;
    sha256_update(&c, msg, mlen);
    sha256_final(&c, inner);
    c = hk->outer;
    sha256_update(&c, inner, 32);
    sha256_final(&c, out);
}

/* HKDF-Expand-Label(secret, prefix + name, "", length), length <= 32, under the secret's
 * HMAC key */
static void hkdf_label(const hmac_key *secret, const unsigned char *prefix, size_t plen,
                       const char *name, size_t length, unsigned char *out) {
    unsigned char info[2 + 1 + 255 + 1 + 1], digest[32];
    size_t nlen = strlen(name), full = 6 + plen + nlen, pos = 0;
    info[pos++] = (unsigned char)(length >> 8);
    info[pos++] = (unsigned char)length;
    info[pos++] = (unsigned char)full;
    memcpy(info + pos, "tls13 ", 6);
    pos += 6;
    memcpy(info + pos, prefix, plen);
    pos += plen;
    memcpy(info + pos, name, nlen);
    pos += nlen;
    info[pos++] = 0x00; /* empty context */
    info[pos++] = 0x01; /* HKDF-Expand's first block counter */
    hmac_with(secret, info, pos, digest);
    memcpy(out, digest, length);
}

/* the HMAC keys of the last salts seen (a version's salt is fixed: two in use) */
static struct {
    unsigned char salt[64];
    size_t len;
    hmac_key key;
} salt_keys[4];
static int salt_keys_used = 0;

static const hmac_key *salt_key(const unsigned char *salt, size_t len) {
    for (int i = 0; i < salt_keys_used; i++)
        if (salt_keys[i].len == len && memcmp(salt_keys[i].salt, salt, len) == 0)
            return &salt_keys[i].key;
    int slot = salt_keys_used < 4 ? salt_keys_used++ : 3;
    memcpy(salt_keys[slot].salt, salt, len);
    salt_keys[slot].len = len;
    hmac_init(&salt_keys[slot].key, salt, len);
    return &salt_keys[slot].key;
}

/* quic_client_keys(salt, dcid, prefix) -> (secret, hp): a client's Initial secret from its
 * Destination Connection ID and the version's salt, and its header-protection key under
 * the version's label prefix (b"quic " or b"quicv2 "); quic_key_iv gives the rest when a
 * packet's header unprotects plausibly (most that merely look like Initials never do) */
PyObject *quic_client_keys(PyObject *self, PyObject *args) {
    Py_buffer salt, dcid, prefix;
    if (!PyArg_ParseTuple(args, "y*y*y*", &salt, &dcid, &prefix))
        return NULL;
    PyObject *out = NULL;
    if (prefix.len > 200) {
        PyErr_SetString(PyExc_ValueError, "quic_client_keys: label prefix too long");
    } else {
        unsigned char initial[32], secret[32], hp[16];
        hmac_key hk;
        if (salt.len <= 64) {
            hmac_with(salt_key((const unsigned char *)salt.buf, (size_t)salt.len),
                      (const unsigned char *)dcid.buf, (size_t)dcid.len, initial);
        } else {
            hmac_init(&hk, (const unsigned char *)salt.buf, (size_t)salt.len);
            hmac_with(&hk, (const unsigned char *)dcid.buf, (size_t)dcid.len, initial);
        }
        hmac_init(&hk, initial, 32);
        hkdf_label(&hk, (const unsigned char *)"", 0, "client in", 32, secret);
        hmac_init(&hk, secret, 32);
        hkdf_label(&hk, (const unsigned char *)prefix.buf, (size_t)prefix.len, "hp", 16, hp);
        out = Py_BuildValue("(y#y#)", (const char *)secret, (Py_ssize_t)32, (const char *)hp, (Py_ssize_t)16);
    }
    PyBuffer_Release(&salt);
    PyBuffer_Release(&dcid);
    PyBuffer_Release(&prefix);
    return out;
}

/* quic_key_iv(secret, prefix) -> (key, iv): AES-128-GCM packet protection of a traffic
 * secret (RFC 9001 §5.1) */
PyObject *quic_key_iv(PyObject *self, PyObject *args) {
    Py_buffer secret, prefix;
    if (!PyArg_ParseTuple(args, "y*y*", &secret, &prefix))
        return NULL;
    PyObject *out = NULL;
    if (prefix.len > 200 || secret.len != 32) {
        PyErr_SetString(PyExc_ValueError, "quic_key_iv: a 32-byte secret and a short label prefix");
    } else {
        unsigned char key[16], iv[12];
        hmac_key hk;
        hmac_init(&hk, (const unsigned char *)secret.buf, 32);
        hkdf_label(&hk, (const unsigned char *)prefix.buf, (size_t)prefix.len, "key", 16, key);
        hkdf_label(&hk, (const unsigned char *)prefix.buf, (size_t)prefix.len, "iv", 12, iv);
        out = Py_BuildValue("(y#y#)", (const char *)key, (Py_ssize_t)16, (const char *)iv, (Py_ssize_t)12);
    }
    PyBuffer_Release(&secret);
    PyBuffer_Release(&prefix);
    return out;
}

