/* The list of formats, detection by content, and the generic open/write. */
#include "formats.h"
#include "tf/tf_bundle.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Order matters for detection: the first format that claims a file wins;
 * formats with a confirm step are asked first (their head test overlaps
 * another's: Keras files are HDF5 like rnnck's). */
static const rnnck__format *const formats[] = {
    &rnnck__format_rnnck,
    &rnnck__format_pytorch,
    &rnnck__format_npz,
    /* before onnx: a safetensors header length can begin 08 12 3a, which
     * onnx's head test takes for a ModelProto; safetensors' own test (zero
     * high bytes, then '{') is the stricter one */
    &rnnck__format_safetensors,
    &rnnck__format_onnx,
    &rnnck__format_keras,
    &rnnck__format_tf,
};
#define NFORMATS (sizeof formats / sizeof formats[0])

const rnnck__format *rnnck__format_find(const char *name) {
    for (size_t i = 0; name && i < NFORMATS; i++)
        if (strcmp(formats[i]->name, name) == 0) return formats[i];
    return NULL;
}

/* Built once (pthread_once): callers on several threads may ask at once. */
static char read_list[256], write_list[256];
static pthread_once_t lists_once = PTHREAD_ONCE_INIT;

static void fill_list(char *buf, int writable) {
    size_t used = 0;
    for (size_t i = 0; i < NFORMATS; i++) {
        if (writable ? !formats[i]->write : !formats[i]->read) continue;
        size_t n = strlen(formats[i]->name);
        if (used + n + 2 >= 256) break;
        if (used) buf[used++] = ',';
        memcpy(buf + used, formats[i]->name, n + 1);
        used += n;
    }
}

static void fill_lists(void) {
    fill_list(read_list, 0);
    fill_list(write_list, 1);
}

static const char *list_formats(int writable) {
    pthread_once(&lists_once, fill_lists);
    return writable ? write_list : read_list;
}
const char *rnnck_formats_readable(void) { return list_formats(0); }
const char *rnnck_formats_writable(void) { return list_formats(1); }

static rnnck_status detect(const char *path, bool trusted, const char **format);

rnnck_status rnnck_detect_format(const char *path, const char **format) {
    rnnck__err_clear();
    if (!path || !format) return rnnck__err(RNNCK_E_USAGE, "rnnck_detect_format: NULL argument");
    rnnck_status st = detect(path, false, format);
    rnnck__h5_walked_forget();
    return st;
}

/* A TensorFlow bundle may be named by its prefix, which is no file: the
 * .index beside it decides (formats/tf/tf_format.c). */
static bool names_tf_prefix(const char *path) {
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) return false;
    if (rnnck__tf_bundle_probe(path)) return true;
    /* PREFIX.index exists but is no table: the reader says what is wrong */
    char *index = rnnck__asprintf("%s.index", path);
    bool yes = index && stat(index, &sb) == 0 && S_ISREG(sb.st_mode);
    free(index);
    return yes;
}

static rnnck_status detect(const char *path, bool trusted, const char **format) {
    if (names_tf_prefix(path)) {
        *format = rnnck__format_tf.name;
        return RNNCK_OK;
    }
    rnnck_status kind = rnnck__require_regular_input(path, NULL); /* a FIFO would block fopen */
    if (kind) return kind;
    FILE *f = fopen(path, "rb");
    if (!f) return rnnck__err(RNNCK_E_IO, "%s: cannot open: %s", path, strerror(errno));
    /* enough for a zip's first local header with the longest name (65535):
     * torch.save archives are told apart by that name */
    enum { HEAD = 30 + 65535 + 64 };
    unsigned char *head = malloc(HEAD);
    if (!head) {
        fclose(f);
        return rnnck__oom();
    }
    size_t n = fread(head, 1, HEAD, f);
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(head);
        return rnnck__err(RNNCK_E_IO, "%s: read error", path);
    }
    for (int confirming = 1; confirming >= 0; confirming--)
        for (size_t i = 0; i < NFORMATS; i++) {
            const rnnck__format *f = formats[i];
            if (!f->detect || (f->confirm != NULL) != confirming || !f->detect(head, n)) continue;
            if (f->confirm && !f->confirm(path, trusted)) continue;
            rnnck__err_clear(); /* a confirm that said no may have left a message */
            *format = f->name;
            free(head);
            return RNNCK_OK;
        }
    free(head);
    return rnnck__err(RNNCK_E_FORMAT, "%s: not a checkpoint in any supported format (%s)", path,
                      rnnck_formats_readable());
}

rnnck_status rnnck_open(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "rnnck_open: NULL argument");
    const char *name = opts ? opts->format : NULL;
    bool tf_prefix = (!name || strcmp(name, rnnck__format_tf.name) == 0) && names_tf_prefix(path);
    rnnck_status kind = tf_prefix ? RNNCK_OK : rnnck__require_regular_input(path, NULL);
    if (kind) return kind;
    rnnck__h5_walked_forget(); /* only this open's detection may leave a note */
    if (!name) {
        rnnck_status st = detect(path, opts && (opts->flags & RNNCK_OPEN_TRUSTED), &name);
        if (st) {
            rnnck__h5_walked_forget();
            return st;
        }
    }
    const rnnck__format *fmt = rnnck__format_find(name);
    if (!fmt || !fmt->read) {
        rnnck__h5_walked_forget();
        return rnnck__err(RNNCK_E_USAGE, "unknown or unreadable format '%s' (readable: %s)", name,
                          rnnck_formats_readable());
    }
    rnnck_status st = fmt->read(path, opts, out);
    rnnck__h5_walked_forget(); /* the note was for this open only */
    return st;
}

static const rnnck__format *format_for_extension(const char *path) {
    const char *dot = strrchr(path, '.');
    const char *slash = strrchr(path, '/');
    if (!dot || (slash && dot < slash) || strlen(dot) > 16) return NULL;
    char key[24];
    key[0] = ',';
    size_t n = strlen(dot);
    for (size_t i = 0; i < n; i++) key[1 + i] = (char)((dot[i] >= 'A' && dot[i] <= 'Z') ? dot[i] + 32 : dot[i]);
    key[1 + n] = ',';
    key[2 + n] = '\0';
    for (size_t i = 0; i < NFORMATS; i++)
        if (strstr(formats[i]->extensions, key)) return formats[i];
    return NULL;
}

rnnck_status rnnck_write(rnnck_model *m, const char *path, const char *format) {
    rnnck_write_opts opts = {.format = format};
    return rnnck_write_ex(m, path, &opts, NULL);
}

rnnck_status rnnck_write_ex(rnnck_model *m, const char *path, const rnnck_write_opts *opts,
                            rnnck_write_stats *stats) {
    rnnck__err_clear();
    if (!m || !path) return rnnck__err(RNNCK_E_USAGE, "rnnck_write: NULL argument");
    const char *format = opts ? opts->format : NULL;
    int level = opts ? opts->compress : 0;
    if (level < 0 || level > 9)
        return rnnck__err(RNNCK_E_USAGE, "%s: compression level %d is not 0-9", path, level);
    const rnnck__format *fmt = format ? rnnck__format_find(format) : format_for_extension(path);
    if (!fmt) {
        if (!format && strcmp(path, "-") == 0)
            return rnnck__err(RNNCK_E_USAGE, "writing to standard output needs a format (%s)", rnnck_formats_writable());
        if (format)
            return rnnck__err(RNNCK_E_USAGE, "unknown format '%s' (writable: %s)", format, rnnck_formats_writable());
        return rnnck__err(RNNCK_E_USAGE, "%s: cannot tell the output format from the extension; say --to FMT (%s)",
                          path, rnnck_formats_writable());
    }
    if (!fmt->write)
        return rnnck__err(RNNCK_E_UNSUPPORTED, "format '%s' cannot be written (writable: %s)", fmt->name,
                          rnnck_formats_writable());
    if (level && fmt != &rnnck__format_rnnck)
        return rnnck__err(RNNCK_E_USAGE, "%s: compression applies to the rnnck (HDF5) format only, not %s", path,
                          fmt->name);
    unsigned flags = opts ? opts->flags : 0;
    const unsigned known = RNNCK_WRITE_ONNX_SEQUENCE_LENS | RNNCK_WRITE_FSYNC;
    if (flags & ~known) return rnnck__err(RNNCK_E_USAGE, "%s: unknown write flags 0x%x", path, flags & ~known);
    bool durable = flags & RNNCK_WRITE_FSYNC;
    flags &= ~RNNCK_WRITE_FSYNC;
    if (flags && fmt != &rnnck__format_onnx)
        return rnnck__err(RNNCK_E_USAGE, "%s: a sequence_lens input applies to the onnx format only, not %s", path,
                          fmt->name);
    uint64_t total = 0;
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) total += rnnck_tensor_nbytes(rnnck_model_tensor(m, i));
    rnnck__progress_begin(opts ? opts->progress : NULL, opts ? opts->progress_ctx : NULL, total);
    rnnck__atomic_set_durable(durable);
    rnnck_write_stats ws = {total, total};
    rnnck_status st = fmt == &rnnck__format_rnnck ? rnnck__save_ex(m, path, level, &ws)
                      : flags                      ? rnnck__onnx_write_ex(m, path, flags)
                                                   : fmt->write(m, path);
    rnnck__atomic_set_durable(false);
    rnnck__progress_end();
    if (!st && stats) *stats = ws;
    return st;
}
