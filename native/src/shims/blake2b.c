/*
 * BLAKE2b (RFC 7693), unkeyed, sequential: the three entry points librsync's
 * signature code calls (blake2b_init / blake2b_update / blake2b_final).
 *
 * Why this file exists: Debian/Ubuntu build librsync against the external libb2
 * (USE_LIBB2=ON), so their librsync.a has undefined references to these symbols and
 * there is no static libb2 to satisfy them (Debian's libb2 also pulls in libgomp).
 * Upstream librsync bundles the BLAKE2 reference code for exactly these calls; this is
 * an independent implementation of the same function so the addon links librsync
 * statically and carries no libb2/libgomp dependency. It is compiled only when the
 * chosen librsync.a does not define blake2b_init itself (see tools/librsync-config.js).
 * Correctness is checked by the tests: our signatures are byte-identical to rdiff's,
 * and the self-test below is exported for them (RFC 7693 appendix A vector).
 *
 * ABI note: librsync allocates the caller's `blake2b_state` with the layout of the
 * blake2.h it was compiled against (libb2: 358 bytes, packed; upstream's bundled
 * reference: 248 bytes). We only use the first sizeof(struct axis_b2b) = 210 bytes and
 * need no alignment, so the state fits either layout.
 */
/*
 * node-gyp compiles everything with -fno-omit-frame-pointer (common.gypi), which takes rbp
 * away from compress()'s register allocation: with 32 live 64-bit words it then spills
 * more, and BLAKE2b runs ~15 % slower than libb2 (the signature's main cost). The frame
 * pointer is not needed in these leaf functions, so GCC gets it back here.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("omit-frame-pointer")
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER)
#pragma pack(push, 1)
#define AXIS_PACKED
#else
#define AXIS_PACKED __attribute__((packed))
#endif
struct axis_b2b {
    uint64_t h[8];
    uint64_t t[2];
    uint8_t buf[128];
    uint8_t buflen; /* 0..128: the last block is kept until final() */
    uint8_t outlen;
} AXIS_PACKED;
#if defined(_MSC_VER)
#pragma pack(pop)
#endif

typedef char axis_b2b_fits_every_layout[(sizeof(struct axis_b2b) <= 241) ? 1 : -1];

static const uint64_t IV[8] = {
    0x6a09e667f3bcc908ULL, 0xbb67ae8584caa73bULL, 0x3c6ef372fe94f82bULL,
    0xa54ff53a5f1d36f1ULL, 0x510e527fade682d1ULL, 0x9b05688c2b3e6c1fULL,
    0x1f83d9abfb41bd6bULL, 0x5be0cd19137e2179ULL};

static const uint8_t SIGMA[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3}};

static uint64_t load64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

static uint64_t rotr64(uint64_t x, unsigned n) { return (x >> n) | (x << (64 - n)); }

#define G(a, b, c, d, x, y)                                                            \
    do {                                                                               \
        a = a + b + (x);                                                               \
        d = rotr64(d ^ a, 32);                                                         \
        c = c + d;                                                                     \
        b = rotr64(b ^ c, 24);                                                         \
        a = a + b + (y);                                                               \
        d = rotr64(d ^ a, 16);                                                         \
        c = c + d;                                                                     \
        b = rotr64(b ^ c, 63);                                                         \
    } while (0)

static void compress(struct axis_b2b *S, const uint8_t block[128], int last)
{
    uint64_t m[16], v[16];
    int i;
    for (i = 0; i < 16; i++) m[i] = load64(block + 8 * i);
    for (i = 0; i < 8; i++) {
        v[i] = S->h[i];
        v[i + 8] = IV[i];
    }
    v[12] ^= S->t[0];
    v[13] ^= S->t[1];
    if (last) v[14] = ~v[14];
    /* Rounds spelled out so the message schedule indices are compile-time constants. */
#define ROUND(r)                                                                       \
    do {                                                                               \
        G(v[0], v[4], v[8], v[12], m[SIGMA[r][0]], m[SIGMA[r][1]]);                    \
        G(v[1], v[5], v[9], v[13], m[SIGMA[r][2]], m[SIGMA[r][3]]);                    \
        G(v[2], v[6], v[10], v[14], m[SIGMA[r][4]], m[SIGMA[r][5]]);                   \
        G(v[3], v[7], v[11], v[15], m[SIGMA[r][6]], m[SIGMA[r][7]]);                   \
        G(v[0], v[5], v[10], v[15], m[SIGMA[r][8]], m[SIGMA[r][9]]);                   \
        G(v[1], v[6], v[11], v[12], m[SIGMA[r][10]], m[SIGMA[r][11]]);                 \
        G(v[2], v[7], v[8], v[13], m[SIGMA[r][12]], m[SIGMA[r][13]]);                  \
        G(v[3], v[4], v[9], v[14], m[SIGMA[r][14]], m[SIGMA[r][15]]);                  \
    } while (0)
    ROUND(0);
    ROUND(1);
    ROUND(2);
    ROUND(3);
    ROUND(4);
    ROUND(5);
    ROUND(6);
    ROUND(7);
    ROUND(8);
    ROUND(9);
    ROUND(10);
    ROUND(11);
#undef ROUND
    for (i = 0; i < 8; i++) S->h[i] ^= v[i] ^ v[i + 8];
}

static void add_counter(struct axis_b2b *S, uint64_t inc)
{
    S->t[0] += inc;
    if (S->t[0] < inc) S->t[1]++;
}

int blake2b_init(void *state, size_t outlen)
{
    struct axis_b2b *S = (struct axis_b2b *)state;
    int i;
    if (outlen == 0 || outlen > 64) return -1;
    memset(S, 0, sizeof *S);
    for (i = 0; i < 8; i++) S->h[i] = IV[i];
    /* parameter block word 0: digest length, key length 0, fanout 1, depth 1 */
    S->h[0] ^= 0x01010000ULL ^ (uint64_t)outlen;
    S->outlen = (uint8_t)outlen;
    return 0;
}

int blake2b_update(void *state, const uint8_t *in, size_t inlen)
{
    struct axis_b2b *S = (struct axis_b2b *)state;
    if (inlen == 0) return 0;
    if (in == NULL) return -1;
    if ((size_t)S->buflen + inlen > 128) {
        /* Fill and compress the buffered block: more input follows, so it is not last. */
        size_t fill = 128 - (size_t)S->buflen;
        memcpy(S->buf + S->buflen, in, fill);
        add_counter(S, 128);
        compress(S, S->buf, 0);
        S->buflen = 0;
        in += fill;
        inlen -= fill;
        while (inlen > 128) {
            add_counter(S, 128);
            compress(S, in, 0);
            in += 128;
            inlen -= 128;
        }
    }
    memcpy(S->buf + S->buflen, in, inlen);
    S->buflen = (uint8_t)(S->buflen + inlen);
    return 0;
}

int blake2b_final(void *state, uint8_t *out, size_t outlen)
{
    struct axis_b2b *S = (struct axis_b2b *)state;
    uint8_t digest[64];
    int i, j;
    if (out == NULL || outlen < S->outlen) return -1;
    add_counter(S, S->buflen);
    memset(S->buf + S->buflen, 0, 128 - (size_t)S->buflen);
    compress(S, S->buf, 1);
    for (i = 0; i < 8; i++)
        for (j = 0; j < 8; j++) digest[8 * i + j] = (uint8_t)(S->h[i] >> (8 * j));
    memcpy(out, digest, S->outlen);
    memset(S, 0, sizeof *S);
    return 0;
}
