/* h5_chunks.c - the fast path of a checkpoint: the buffered rows of a
 * /trials column written chunk by chunk with H5Dwrite_chunk, the shuffle +
 * deflate done here (zlib level 1 with the Z_RLE strategy, a valid stream for
 * HDF5's deflate filter, about twice as fast on shuffled numbers); chunks the
 * rows cover in part are read back (H5Dread_chunk), merged and rewritten.
 * Only for columns laid out as create() makes them; h5_writer.c writes any
 * other layout through a hyperslab (tests/bench/bench_h5.c measures both). */
#include "h5_writer.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* How a /trials column's chunks are stored, from its creation properties:
 * as create() makes them (chunks of want_chunk rows, shuffle + deflate or no
 * filters, stored in the host's byte order), or something else. */
typedef enum chunk_codec { CODEC_OTHER, CODEC_RAW, CODEC_SHUFFLE_DEFLATE } chunk_codec;

static chunk_codec column_codec(hid_t ds, hsize_t want_chunk, hid_t native)
{
    chunk_codec codec = CODEC_OTHER;
    hid_t ft = H5Dget_type(ds);
    int same = ft >= 0 && H5Tequal(ft, native) > 0; /* little-endian hosts */
    if (ft >= 0) H5Tclose(ft);
    hid_t dcpl = same ? H5Dget_create_plist(ds) : -1;
    if (dcpl < 0) return codec;
    hsize_t chunk = 0;
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 1, &chunk) == 1 && chunk == want_chunk) {
        int nf = H5Pget_nfilters(dcpl);
        unsigned flags, cd[8];
        size_t ncd0 = 8, ncd1 = 8;
        if (nf == 0) codec = CODEC_RAW;
        else if (nf == 2 && H5Pget_filter2(dcpl, 0, &flags, &ncd0, cd, 0, NULL, NULL) == H5Z_FILTER_SHUFFLE &&
                 H5Pget_filter2(dcpl, 1, &flags, &ncd1, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE)
            codec = CODEC_SHUFFLE_DEFLATE;
    }
    H5Pclose(dcpl);
    return codec;
}

/* HDF5's shuffle filter: byte j of element i goes to j * n + i. */
static void shuffle_bytes(const uint8_t *in, size_t n, size_t size, uint8_t *out)
{
    for (size_t j = 0; j < size; j++)
        for (size_t i = 0; i < n; i++) out[j * n + i] = in[i * size + j];
}

static void unshuffle_bytes(const uint8_t *in, size_t n, size_t size, uint8_t *out)
{
    for (size_t j = 0; j < size; j++)
        for (size_t i = 0; i < n; i++) out[i * size + j] = in[j * n + i];
}

/* Buffers of the chunk writes. */
struct chunk_writer {
    hsize_t chunk;  /* rows per chunk */
    uint8_t *raw;   /* chunk * 8: the chunk's values */
    uint8_t *shuf;  /* chunk * 8: shuffled */
    uint8_t *z;     /* a stored (compressed) chunk */
    size_t z_cap;
    z_stream zs;
    int z_ready;
};

/* Load stored chunk `start` of a column into w->raw (zeros, the fill value,
 * when it was never written), undoing the filters HDF5 records as applied. */
static herr_t load_chunk(hid_t ds, chunk_codec codec, chunk_writer *w, hsize_t start, size_t size)
{
    size_t bytes = (size_t)w->chunk * size;
    hsize_t stored = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned fmask = 0;
    if (H5Dget_chunk_info_by_coord(ds, &start, &fmask, &addr, &stored) < 0) return -1;
    if (stored == 0) {
        memset(w->raw, 0, bytes);
        return 0;
    }
    if (stored > w->z_cap) {
        uint8_t *z = realloc(w->z, (size_t)stored);
        if (!z) return -1;
        w->z = z;
        w->z_cap = (size_t)stored;
    }
    uint32_t mask = 0;
    if (H5Dread_chunk(ds, H5P_DEFAULT, &start, &mask, w->z) < 0) return -1;
    if (codec == CODEC_RAW) mask = 3; /* no filters in the pipeline */
    const uint8_t *data = w->z;
    size_t len = (size_t)stored;
    if (!(mask & 2)) { /* deflated */
        uLongf out = (uLongf)bytes;
        if (uncompress(w->shuf, &out, w->z, (uLong)stored) != Z_OK) return -1;
        data = w->shuf;
        len = (size_t)out;
    }
    if (len != bytes) return -1;
    if (!(mask & 1) && size > 1) unshuffle_bytes(data, (size_t)w->chunk, size, w->raw);
    else memcpy(w->raw, data, bytes);
    return 0;
}

/* Store w->raw as chunk `start`: shuffled and deflated here the way HDF5's
 * filters would (the stream is plain zlib, so any reader inflates it; Z_RLE
 * suits shuffled numbers: about twice as fast as the default strategy at
 * level 1, and no larger), written with H5Dwrite_chunk. */
static herr_t store_chunk(hid_t ds, chunk_codec codec, chunk_writer *w, hsize_t start, size_t size)
{
    size_t bytes = (size_t)w->chunk * size;
    if (codec == CODEC_RAW) return H5Dwrite_chunk(ds, H5P_DEFAULT, 0, &start, bytes, w->raw);
    const uint8_t *in = w->raw;
    if (size > 1) {
        shuffle_bytes(w->raw, (size_t)w->chunk, size, w->shuf);
        in = w->shuf;
    }
    size_t bound = (size_t)compressBound((uLong)bytes);
    if (bound > w->z_cap) {
        uint8_t *z = realloc(w->z, bound);
        if (!z) return -1;
        w->z = z;
        w->z_cap = bound;
    }
    if (!w->z_ready) {
        memset(&w->zs, 0, sizeof w->zs);
        if (deflateInit2(&w->zs, 1, Z_DEFLATED, 15, 8, Z_RLE) != Z_OK) return -1;
        w->z_ready = 1;
    } else if (deflateReset(&w->zs) != Z_OK) {
        return -1;
    }
    w->zs.next_in = (Bytef *)(uintptr_t)in;
    w->zs.avail_in = (uInt)bytes;
    w->zs.next_out = w->z;
    w->zs.avail_out = (uInt)w->z_cap;
    if (deflate(&w->zs, Z_FINISH) != Z_STREAM_END) return -1;
    return H5Dwrite_chunk(ds, H5P_DEFAULT, 0, &start, w->z_cap - w->zs.avail_out, w->z);
}

/* Write one column's buffered rows chunk by chunk: a chunk the rows cover
 * whole is built from them alone (the edge chunk padded with the fill value
 * 0); one they cover in part is read, merged and rewritten. */
static herr_t write_chunks(hid_t ds, chunk_codec codec, chunk_writer *w, const nnfi_h5_results *r,
                           const size_t *order, size_t m, size_t ci, size_t size)
{
    const uint8_t *src = r->col[ci];
    size_t i = 0;
    while (i < m) {
        uint64_t c = r->trials[order[i]] / w->chunk;
        size_t j = i + 1;
        while (j < m && r->trials[order[j]] / w->chunk == c) j++;
        hsize_t start = c * w->chunk;
        uint64_t rows = r->total - start < w->chunk ? r->total - start : w->chunk;
        if (j - i == rows) { /* whole (rows are sorted and unique) */
            if (rows < w->chunk) memset(w->raw + rows * size, 0, (size_t)(w->chunk - rows) * size);
        } else if (load_chunk(ds, codec, w, start, size) < 0) {
            return -1;
        }
        uint8_t *dst = w->raw;
        switch (size) { /* scatter the rows into the chunk */
        case 1:
            for (size_t k = i; k < j; k++) dst[r->trials[order[k]] - start] = src[order[k]];
            break;
        case 4:
            for (size_t k = i; k < j; k++) memcpy(dst + (r->trials[order[k]] - start) * 4, src + order[k] * 4, 4);
            break;
        case 8:
            for (size_t k = i; k < j; k++) memcpy(dst + (r->trials[order[k]] - start) * 8, src + order[k] * 8, 8);
            break;
        default:
            for (size_t k = i; k < j; k++)
                memcpy(dst + (r->trials[order[k]] - start) * size, src + order[k] * size, size);
            break;
        }
        if (store_chunk(ds, codec, w, start, size) < 0) return -1;
        i = j;
    }
    return 0;
}

chunk_writer *chunk_writer_new(hsize_t chunk)
{
    chunk_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->chunk = chunk;
    w->raw = malloc((size_t)chunk * 8);
    w->shuf = malloc((size_t)chunk * 8);
    if (!w->raw || !w->shuf) {
        chunk_writer_free(w);
        return NULL;
    }
    return w;
}

void chunk_writer_free(chunk_writer *w)
{
    if (!w) return;
    if (w->z_ready) deflateEnd(&w->zs);
    free(w->raw);
    free(w->shuf);
    free(w->z);
    free(w);
}

int write_column_chunks(hid_t ds, chunk_writer *w, const nnfi_h5_results *r, const size_t *order, size_t m,
                        size_t ci, const nnfi_column_info *col)
{
    chunk_codec codec = column_codec(ds, w->chunk, mem_type(col->kind));
    if (codec == CODEC_OTHER) return 0;
    return write_chunks(ds, codec, w, r, order, m, ci, col->size) < 0 ? -1 : 1;
}
