/* sampler.c - concrete faults from (seed, experiment, group, point, trial, k).
 * See sampler.h for the counter layout. Draw layout per fault k:
 *   draw 0: w0,w1 element (64-bit uniform), w2 call/sample, w3 time step
 *   draw 1: w0,w1 random value (op random), w2,w3 bit picks 0 and 1
 *   draw 2+: bit picks 2.. (four per draw)
 * The per-fault code is in sampler_core.h (shared with the CUDA generator):
 * nnfi_sampler_fault_at is the definition of a fault. Counts drawn per trial
 * use fault slot k = COUNT_SLOT, which no fault uses; the distinct-element
 * permutation uses draws with the top bit set.
 *
 * nnfi_sampler_faults computes the same faults in blocks of BLOCK: draws 0
 * and 1 of the whole block in one structure-of-arrays Philox pass
 * (nnfi_philox4x32_10_batch: AVX-512F or AVX2 (v)pmuludq where the CPU has
 * them, else a plain C loop), only the draws the group uses; the site of element x from a bucket table over the top bits of the
 * 64-bit uniform (each bucket names the first and last site its elements can
 * fall in, so the binary search is over zero or a few sites); one or two
 * random bits from a table of each dtype's candidate bit positions. Anything
 * else (distinct groups, three or more random bits) goes through the scalar
 * code for that fault. Every fault is bit-identical to nnfi_sampler_fault_at
 * (tests/unit/test_sampler_fast.c checks it over millions of draws).
 *
 * Threads: each fault is a pure function of its index, so [k0, k0+n) is cut
 * into contiguous chunks drawn by POSIX threads and the result does not depend
 * on the split. The count comes from nnfi_sampler_faults_threads' argument,
 * else from NNFI_DRAW_THREADS (read once per process: a number, or "auto" for
 * the online cores), else 1; a thread gets at least MIN_CHUNK faults, so small
 * draws stay on the calling thread.
 */
#include "nnfi/sampler.h"
#include "nnfi/sampler_core.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COUNT_SLOT 0xFFFFFFFFu

#define BLOCK 256                      /* faults per structure-of-arrays block */
#define MIN_CHUNK ((uint64_t)1 << 15)  /* faults per thread at least */
#define MAX_THREADS 64
#define MAX_BUCKET_BITS 12

void nnfi_sampler_fault(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k, nnfi_fault *out)
{
    nnfi_sampler_fault_at(g, id, k, out);
}

/* ---- Philox over many counters at once ------------------------------------ */

/* Key of each of the 10 rounds. */
static void round_keys(uint32_t key0, uint32_t key1, uint32_t *k0, uint32_t *k1)
{
    for (int r = 0; r < 10; r++) {
        k0[r] = key0 + (uint32_t)r * 0x9E3779B9u;
        k1[r] = key1 + (uint32_t)r * 0xBB67AE85u;
    }
}

/* Exactly BLOCK lanes, plain C (any target): the same integer steps as
 * nnfi_philox4x32_10, lane by lane. */
static void philox_block_c(uint32_t *restrict w0, uint32_t *restrict w1, uint32_t *restrict w2,
                           uint32_t *restrict w3, uint32_t key0, uint32_t key1)
{
    uint32_t k0[10], k1[10];
    round_keys(key0, key1, k0, k1);
    for (int i = 0; i < BLOCK; i++) {
        uint32_t c0 = w0[i], c1 = w1[i], c2 = w2[i], c3 = w3[i];
        for (int r = 0; r < 10; r++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0[r];
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1[r];
            c1 = (uint32_t)p1;
            c3 = (uint32_t)p0;
            c0 = n0;
            c2 = n2;
        }
        w0[i] = c0, w1[i] = c1, w2[i] = c2, w3[i] = c3;
    }
}

typedef void (*philox_block_fn)(uint32_t *restrict, uint32_t *restrict, uint32_t *restrict, uint32_t *restrict,
                                uint32_t, uint32_t);

#if defined(__x86_64__) && defined(__GNUC__)
/* x86: the 32x32->64 products with (v)pmuludq, even and odd lanes apart, two
 * vectors interleaved per step (the multiplier's latency). Compilers do not
 * find this form for the plain loop (they multiply 64 x 64). Picked at run
 * time by what the CPU supports; the words are the same whichever runs. */
#include <immintrin.h>

#define PHILOX_SIMD_BODY(V, MUL, SRL, SLL, BLEND_ODD, XOR, SET1, LOAD, STORE, WIDTH)                              \
    uint32_t k0[10], k1[10];                                                                                    \
    round_keys(key0, key1, k0, k1);                                                                             \
    const V m0 = SET1((int)0xD2511F53u), m1 = SET1((int)0xCD9E8D57u);                                           \
    for (int i = 0; i < BLOCK; i += 2 * WIDTH) {                                                                \
        V c0[2], c1[2], c2[2], c3[2];                                                                           \
        for (int v = 0; v < 2; v++) {                                                                           \
            c0[v] = LOAD((const void *)(w0 + i + v * WIDTH)), c1[v] = LOAD((const void *)(w1 + i + v * WIDTH)); \
            c2[v] = LOAD((const void *)(w2 + i + v * WIDTH)), c3[v] = LOAD((const void *)(w3 + i + v * WIDTH)); \
        }                                                                                                       \
        for (int r = 0; r < 10; r++) {                                                                          \
            const V kk0 = SET1((int)k0[r]), kk1 = SET1((int)k1[r]);                                             \
            for (int v = 0; v < 2; v++) {                                                                       \
                V pe0 = MUL(c0[v], m0), po0 = MUL(SRL(c0[v], 32), m0);                                          \
                V pe1 = MUL(c2[v], m1), po1 = MUL(SRL(c2[v], 32), m1);                                          \
                V hi0 = BLEND_ODD(SRL(pe0, 32), po0), lo0 = BLEND_ODD(pe0, SLL(po0, 32));                       \
                V hi1 = BLEND_ODD(SRL(pe1, 32), po1), lo1 = BLEND_ODD(pe1, SLL(po1, 32));                       \
                c0[v] = XOR(XOR(hi1, c1[v]), kk0);                                                              \
                c2[v] = XOR(XOR(hi0, c3[v]), kk1);                                                              \
                c1[v] = lo1;                                                                                    \
                c3[v] = lo0;                                                                                    \
            }                                                                                                   \
        }                                                                                                       \
        for (int v = 0; v < 2; v++) {                                                                           \
            STORE((void *)(w0 + i + v * WIDTH), c0[v]), STORE((void *)(w1 + i + v * WIDTH), c1[v]);            \
            STORE((void *)(w2 + i + v * WIDTH), c2[v]), STORE((void *)(w3 + i + v * WIDTH), c3[v]);            \
        }                                                                                                       \
    }

#define BLEND_ODD_256(a, b) _mm256_blend_epi32((a), (b), 0xAA)
#define LOAD_256(p) _mm256_loadu_si256((const __m256i *)(p))
#define STORE_256(p, x) _mm256_storeu_si256((__m256i *)(p), (x))
__attribute__((target("avx2"))) static void philox_block_avx2(uint32_t *restrict w0, uint32_t *restrict w1,
                                                              uint32_t *restrict w2, uint32_t *restrict w3,
                                                              uint32_t key0, uint32_t key1)
{
    PHILOX_SIMD_BODY(__m256i, _mm256_mul_epu32, _mm256_srli_epi64, _mm256_slli_epi64, BLEND_ODD_256,
                     _mm256_xor_si256, _mm256_set1_epi32, LOAD_256, STORE_256, 8)
}

#define BLEND_ODD_512(a, b) _mm512_mask_blend_epi32((__mmask16)0xAAAA, (a), (b))
#define LOAD_512(p) _mm512_loadu_si512(p)
#define STORE_512(p, x) _mm512_storeu_si512((p), (x))
__attribute__((target("avx512f"))) static void philox_block_avx512(uint32_t *restrict w0, uint32_t *restrict w1,
                                                                   uint32_t *restrict w2, uint32_t *restrict w3,
                                                                   uint32_t key0, uint32_t key1)
{
    PHILOX_SIMD_BODY(__m512i, _mm512_mul_epu32, _mm512_srli_epi64, _mm512_slli_epi64, BLEND_ODD_512,
                     _mm512_xor_si512, _mm512_set1_epi32, LOAD_512, STORE_512, 16)
}

static int cpu_has(int isa)
{
    __builtin_cpu_init();
    return isa == 1 ? __builtin_cpu_supports("avx2") : isa == 2 ? __builtin_cpu_supports("avx512f") : 1;
}
#else
static int cpu_has(int isa) { return isa == 0; }
#endif

static philox_block_fn philox_fn(int isa)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa == 2) return philox_block_avx512;
    if (isa == 1) return philox_block_avx2;
#endif
    (void)isa;
    return philox_block_c;
}

/* The widest the CPU has. */
static int best_isa(void) { return cpu_has(2) ? 2 : cpu_has(1) ? 1 : 0; }

int nnfi_philox4x32_10_batch_isa(int isa, uint32_t *w0, uint32_t *w1, uint32_t *w2, uint32_t *w3, size_t n,
                                 nnfi_philox_key key)
{
    if (isa < 0) isa = best_isa();
    if (isa > 2 || !cpu_has(isa)) return -1;
    philox_block_fn fn = philox_fn(isa);
    uint32_t b[4][BLOCK];
    for (size_t at = 0; at < n; at += BLOCK) {
        size_t m = n - at < BLOCK ? n - at : BLOCK;
        if (m == BLOCK) {
            fn(w0 + at, w1 + at, w2 + at, w3 + at, key.v[0], key.v[1]);
            continue;
        }
        memset(b, 0, sizeof b);
        memcpy(b[0], w0 + at, m * 4), memcpy(b[1], w1 + at, m * 4);
        memcpy(b[2], w2 + at, m * 4), memcpy(b[3], w3 + at, m * 4);
        fn(b[0], b[1], b[2], b[3], key.v[0], key.v[1]);
        memcpy(w0 + at, b[0], m * 4), memcpy(w1 + at, b[1], m * 4);
        memcpy(w2 + at, b[2], m * 4), memcpy(w3 + at, b[3], m * 4);
    }
    return isa;
}

void nnfi_philox4x32_10_batch(uint32_t *w0, uint32_t *w1, uint32_t *w2, uint32_t *w3, size_t n,
                              nnfi_philox_key key)
{
    nnfi_philox4x32_10_batch_isa(-1, w0, w1, w2, w3, n, key);
}

/* ---- the block sampler ----------------------------------------------------- */

enum { BITS_WHOLE, BITS_ONE, BITS_TWO, BITS_SCALAR };

/* What a group's draws need, worked out once per call. */
typedef struct fast_plan {
    const nnfi_group_plan *g;
    nnfi_fault_id id;
    int scalar;           /* distinct (or degenerate) groups: nnfi_sampler_fault_at per fault */
    int need_d0, need_d1; /* which Philox draws the group reads */
    philox_block_fn philox;
    uint32_t c3;          /* counter word 3 */
    uint8_t bits_mode[NNFI_DT_COUNT];
    uint8_t left[NNFI_DT_COUNT];     /* candidate bits per dtype */
    uint8_t pos[NNFI_DT_COUNT][64];  /* their positions, low to high */
    uint64_t value[NNFI_DT_COUNT];   /* SET: the encoded value; RANDOM: the dtype's width mask */
    uint32_t when_range;             /* transient: calls or samples (as the scalar code truncates it) */
    uint32_t starts;                 /* transient with a time window: possible first steps */
    unsigned bucket_shift;           /* bucket of a uniform u: u >> bucket_shift */
    const uint32_t *bucket;          /* NULL: search all sites; else first site of each bucket, and the last */
} fast_plan;

static void plan_fast(fast_plan *fp, const nnfi_group_plan *g, nnfi_fault_id id)
{
    memset(fp, 0, sizeof *fp);
    fp->g = g;
    fp->id = id;
    fp->scalar = g->n_sites == 0 || (g->element < 0 && (g->distinct || g->total == 0));
    fp->philox = philox_fn(best_isa());
    fp->c3 = (id.experiment << 20) | (id.group << 16) | id.point;
    fp->need_d0 = g->element < 0 || g->transient;
    fp->need_d1 = g->op == NNFI_OP_RANDOM;
    for (int dt = 0; dt < NNFI_DT_COUNT; dt++) {
        uint64_t cand = g->candidates[dt];
        uint32_t left = nnfi_popcount64(cand);
        fp->left[dt] = (uint8_t)left;
        for (uint32_t j = 0; cand; j++, cand &= cand - 1) fp->pos[dt][j] = (uint8_t)__builtin_ctzll(cand);
        if (g->bit_count == 0 || g->bit_count >= left) fp->bits_mode[dt] = BITS_WHOLE;
        else fp->bits_mode[dt] = g->bit_count == 1 ? BITS_ONE : g->bit_count == 2 ? BITS_TWO : BITS_SCALAR;
        if (fp->bits_mode[dt] != BITS_WHOLE) fp->need_d1 = 1;
        if (g->op == NNFI_OP_RANDOM) fp->value[dt] = nnfi_low_mask(nnfi_dtype_bits((nnfi_dtype)dt));
        else if (g->op == NNFI_OP_SET) fp->value[dt] = nnfi_value_encode(g->set_value, (nnfi_dtype)dt);
    }
    uint64_t range = g->scope == 1 ? g->samples : g->calls;
    fp->when_range = (uint32_t)(range ? range : 1);
    fp->starts = g->t_to - g->t_from + 1 - (g->duration - 1);
}

/* The bucket table for plan_fast's group: bucket b holds the uniforms u with
 * u >> shift == b, whose elements x = mulhi64(u, total) lie between those of
 * b << shift and (b + 1) << shift, so their sites lie between tab[b] and
 * tab[b + 1]. tab has (1 << bits) + 1 entries. */
static void build_buckets(fast_plan *fp, uint32_t *tab, unsigned bits)
{
    const nnfi_group_plan *g = fp->g;
    uint32_t nb = 1u << bits, s = 0;
    for (uint32_t b = 0; b < nb; b++) {
        uint64_t x = nnfi_mulhi64((uint64_t)b << (64 - bits), g->total);
        while (s + 1 < g->n_sites && g->prefix[s + 1] <= x) s++; /* last site with prefix <= x */
        tab[b] = s;
    }
    tab[nb] = g->n_sites - 1;
    fp->bucket_shift = 64 - bits;
    fp->bucket = tab;
}

/* Enough buckets that most hold one site even when sizes are skewed (64 per
 * site), as long as building them (one step per bucket) stays below a tenth
 * of the draws; at most 4,096 (16 KiB, cache resident). */
static unsigned bucket_bits_for(uint32_t n_sites, uint64_t n)
{
    unsigned bits = 2;
    while (bits < MAX_BUCKET_BITS && (1u << bits) < 64 * (uint64_t)n_sites && (10u << bits) < n) bits++;
    return bits;
}

/* Faults k0 .. k0+n-1 (n <= BLOCK), bit-identical to nnfi_sampler_fault_at. */
static void draw_block(const fast_plan *fp, uint64_t k0, uint32_t n, nnfi_fault *out)
{
    const nnfi_group_plan *g = fp->g;
    uint32_t a0[BLOCK], a1[BLOCK], a2[BLOCK], a3[BLOCK]; /* draw 0 */
    uint32_t b0[BLOCK], b1[BLOCK], b2[BLOCK], b3[BLOCK]; /* draw 1 */
    nnfi_philox_key key = {{(uint32_t)fp->id.seed, (uint32_t)(fp->id.seed >> 32)}};
    uint32_t k32 = (uint32_t)k0;
    if (fp->need_d0) {
        for (uint32_t i = 0; i < BLOCK; i++) a0[i] = 0, a1[i] = k32 + i, a2[i] = fp->id.trial, a3[i] = fp->c3;
        fp->philox(a0, a1, a2, a3, key.v[0], key.v[1]);
    }
    if (fp->need_d1) {
        for (uint32_t i = 0; i < BLOCK; i++) b0[i] = 1, b1[i] = k32 + i, b2[i] = fp->id.trial, b3[i] = fp->c3;
        fp->philox(b0, b1, b2, b3, key.v[0], key.v[1]);
    }
    const uint32_t last = g->n_sites - 1;
    const int fixed = g->element >= 0;
    const uint8_t group = (uint8_t)fp->id.group;
    for (uint32_t i = 0; i < n; i++) {
        nnfi_fault *o = &out[i];
        uint64_t x;
        uint32_t lo = 0, hi = last;
        if (fixed) {
            x = (uint64_t)g->element;
            hi = 0;
        } else {
            uint64_t u = nnfi_u64_of(a0[i], a1[i]);
            x = nnfi_mulhi64(u, g->total);
            if (fp->bucket) {
                uint64_t b = u >> fp->bucket_shift;
                lo = fp->bucket[b], hi = fp->bucket[b + 1];
            }
            while (lo < hi) { /* as sampler_core.h, over the bucket's sites only */
                uint32_t mid = (lo + hi + 1) / 2;
                if (g->prefix[mid] <= x) lo = mid;
                else hi = mid - 1;
            }
        }
        nnfi_dtype dt = (nnfi_dtype)g->site_dtype[lo];
        o->element = fixed ? x : g->index_map ? g->index_map[x] : x - g->prefix[lo];
        switch (fp->bits_mode[dt]) {
        case BITS_WHOLE: o->mask = g->candidates[dt]; break;
        case BITS_ONE: o->mask = (uint64_t)1 << fp->pos[dt][nnfi_mulhi32(b2[i], fp->left[dt])]; break;
        case BITS_TWO: {
            uint32_t i0 = nnfi_mulhi32(b2[i], fp->left[dt]), i1 = nnfi_mulhi32(b3[i], fp->left[dt] - 1u);
            if (i1 >= i0) i1++; /* the i1-th of the bits left once bit i0 is taken */
            o->mask = ((uint64_t)1 << fp->pos[dt][i0]) | ((uint64_t)1 << fp->pos[dt][i1]);
            break;
        }
        default: {
            nnfi_philox_ctr d1 = {{b0[i], b1[i], b2[i], b3[i]}};
            o->mask = nnfi_sampler_pick_bits(g->candidates[dt], g->bit_count, fp->id, k32 + i, &d1);
            break;
        }
        }
        o->site = g->site_ids[lo];
        o->op = g->op;
        o->group = group;
        if (g->op == NNFI_OP_RANDOM) o->value = nnfi_u64_of(b0[i], b1[i]) & fp->value[dt];
        else o->value = fp->value[dt]; /* SET: encoded; else 0 */
        o->transient = g->transient;
        o->scope = g->scope;
        o->t_first = g->t_from;
        o->t_last = g->t_to;
        o->when = -1;
        if (g->transient) {
            o->when = (int64_t)nnfi_mulhi32(a2[i], fp->when_range);
            if (g->t_to != UINT32_MAX) {
                o->t_first = g->t_from + nnfi_mulhi32(a3[i], fp->starts);
                o->t_last = o->t_first + g->duration - 1;
            }
        }
    }
}

static void draw_range(const fast_plan *fp, uint64_t k0, uint64_t n, nnfi_fault *out)
{
    if (fp->scalar) {
        for (uint64_t i = 0; i < n; i++) nnfi_sampler_fault_at(fp->g, fp->id, k0 + i, &out[i]);
        return;
    }
    for (uint64_t at = 0; at < n; at += BLOCK) {
        uint64_t m = n - at < BLOCK ? n - at : BLOCK;
        draw_block(fp, k0 + at, (uint32_t)m, out + at);
    }
}

typedef struct chunk_job {
    const fast_plan *fp;
    uint64_t k0, n;
    nnfi_fault *out;
} chunk_job;

static void *chunk_main(void *arg)
{
    chunk_job *j = arg;
    draw_range(j->fp, j->k0, j->n, j->out);
    return NULL;
}

static unsigned env_threads;
static pthread_once_t env_once = PTHREAD_ONCE_INIT;

static void read_env_threads(void)
{
    const char *s = getenv("NNFI_DRAW_THREADS");
    long v = 1;
    if (s && strcmp(s, "auto") == 0) {
        v = sysconf(_SC_NPROCESSORS_ONLN);
    } else if (s && *s) {
        char *end;
        v = strtol(s, &end, 10);
        if (*end) v = 1;
    }
    if (v < 1) v = 1;
    if (v > MAX_THREADS) v = MAX_THREADS;
    env_threads = (unsigned)v;
}

unsigned nnfi_sampler_draw_threads(void)
{
    pthread_once(&env_once, read_env_threads);
    return env_threads;
}

void nnfi_sampler_faults_threads(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k0, uint64_t n,
                                 nnfi_fault *out, unsigned threads)
{
    if (n == 0) return;
    if (threads == 0) threads = nnfi_sampler_draw_threads();
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if ((uint64_t)threads > n / MIN_CHUNK) threads = (unsigned)(n / MIN_CHUNK);
    if (threads < 1) threads = 1;
    fast_plan fp;
    plan_fast(&fp, g, id);
    uint32_t tab[(1u << MAX_BUCKET_BITS) + 1];
    if (!fp.scalar && g->element < 0 && g->n_sites > 1 && n >= 64)
        build_buckets(&fp, tab, bucket_bits_for(g->n_sites, n));
    if (threads == 1) {
        draw_range(&fp, k0, n, out);
        return;
    }
    chunk_job job[MAX_THREADS];
    pthread_t tid[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    uint64_t per = (n + threads - 1) / threads;
    per = (per + BLOCK - 1) / BLOCK * BLOCK; /* whole blocks per chunk */
    unsigned used = 0;
    for (uint64_t at = 0; at < n; at += per, used++) {
        job[used] = (chunk_job){&fp, k0 + at, n - at < per ? n - at : per, out + at};
    }
    for (unsigned t = 1; t < used; t++) started[t] = pthread_create(&tid[t], NULL, chunk_main, &job[t]) == 0;
    chunk_main(&job[0]);
    for (unsigned t = 1; t < used; t++) {
        if (started[t]) pthread_join(tid[t], NULL);
        else chunk_main(&job[t]); /* no thread: the same chunk, here */
    }
}

void nnfi_sampler_faults(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k0, uint64_t n,
                         nnfi_fault *out)
{
    nnfi_sampler_faults_threads(g, id, k0, n, out, 0);
}

/* Uniform doubles from the count slot of this trial's stream. */
typedef struct count_stream {
    nnfi_fault_id id;
    uint32_t draw;
    int word;
    nnfi_philox_ctr cur;
} count_stream;

static double next_unit(count_stream *s)
{
    if (s->word == 0 || s->word >= 4) {
        s->cur = nnfi_sampler_draw(s->id, s->draw++, COUNT_SLOT);
        s->word = 0;
    }
    uint64_t u = nnfi_u64_of(s->cur.v[s->word], s->cur.v[s->word + 1]);
    s->word += 2;
    return nnfi_unit_double(u);
}

/* Poisson(lambda): inversion for small means, Hormann's PTRS otherwise. */
static uint64_t poisson(count_stream *s, double lambda)
{
    if (lambda < 30) {
        double p = exp(-lambda), f = p, u = next_unit(s);
        uint64_t x = 0;
        while (u > f && x < 1000) {
            x++;
            p *= lambda / (double)x;
            f += p;
        }
        return x;
    }
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double u = next_unit(s) - 0.5, v = next_unit(s);
        double us = 0.5 - fabs(u);
        double kk = floor((2 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr) return (uint64_t)kk;
        if (kk < 0 || (us < 0.013 && v > us)) continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lambda + kk * loglam - lgamma(kk + 1))
            return (uint64_t)kk;
    }
}

uint64_t nnfi_sampler_count(const nnfi_group_plan *g, nnfi_count_rule rule, nnfi_fault_id id)
{
    if (rule.rate <= 0) return rule.count;
    double lambda = rule.rate * (double)g->total;
    uint64_t n;
    if (rule.poisson) {
        count_stream s = {id, 0, 0, {{0, 0, 0, 0}}};
        n = poisson(&s, lambda);
    } else {
        n = (uint64_t)llround(lambda);
    }
    return n > g->total ? g->total : n;
}
