/* PyTorch torch.save files, read without Python: detection, the zip archive
 * (checked member by member), data.pkl through the restricted unpickler,
 * and the state_dict it holds turned into a model. Legacy streams are in
 * pytorch_legacy.c, the hooks in pytorch_storage.c, the walk over saved
 * objects in pytorch_collect.c. */
#include "formats.h"
#include "core/budget.h"
#include "pytorch/pytorch_internal.h"

#include <stdlib.h>
#include <string.h>

rnnck_status rnnck__pytorch_write(rnnck_model *m, const char *path);

/* ----------------------------------------------------------- detection */

static int zip_first_name(const unsigned char *head, size_t n, const char **name, size_t *len) {
    if (n < 30 || memcmp(head, "PK\3\4", 4) != 0) return 0;
    size_t nl = head[26] | (size_t)head[27] << 8;
    if (30 + nl > n) return 0;
    *name = (const char *)head + 30;
    *len = nl;
    return 1;
}

/* Pickle protocol 2 opening with LONG1: the legacy format's magic number. */
static int is_legacy(const unsigned char *head, size_t n) {
    return n >= 4 && head[0] == 0x80 && head[1] >= 2 && head[1] <= 5 && head[2] == 0x8a;
}

static int detect_pytorch(const unsigned char *head, size_t n) {
    const char *name;
    size_t len;
    if (zip_first_name(head, n, &name, &len))
        return len > 9 && memchr(name, '/', len) && !memcmp(name + len - 8, "data.pkl", 8);
    return is_legacy(head, n);
}

/* --------------------------------------------------------------- reader */

/* The oldest (tar) torch.save layout is not read. */
static rnnck_status legacy_refusal(const char *path) {
    return rnnck__err(RNNCK_E_UNSUPPORTED,
                      "%s: legacy tar-format torch.save file; re-save it with torch >= 1.6: "
                      "torch.save(torch.load(f), f2, _use_new_zipfile_serialization=True)",
                      path);
}

static rnnck_status read_small(pt_reader *r, const char *rec, char *buf, size_t n, bool *present) {
    *present = false;
    char *member = rnnck__asprintf("%s/%s", r->prefix, rec); /* the prefix may be long: never cut */
    if (!member) return rnnck__oom();
    int64_t idx;
    rnnck_status found = rnnck__zip_find(r->z, member, &idx);
    free(member);
    if (found) {
        rnnck__err_clear();
        return RNNCK_OK;
    }
    unsigned char *data;
    size_t len;
    rnnck_status st = rnnck__zip_read(r->z, idx, n - 1, &data, &len);
    if (st) return st;
    memcpy(buf, data, len + 1);
    free(data);
    *present = true;
    return RNNCK_OK;
}

static rnnck_status open_archive(pt_reader *r) {
    rnnck_status st = rnnck__zip_open(r->path, &r->z);
    if (st) return st;
    const char *first = rnnck__zip_count(r->z) > 0 ? rnnck__zip_name(r->z, 0) : NULL;
    const char *slash = first ? strchr(first, '/') : NULL;
    if (!slash || slash == first)
        return rnnck__err(RNNCK_E_FORMAT,
                          "%s: first archive member is not in a subdirectory (not a torch.save archive)", r->path);
    r->prefix = malloc((size_t)(slash - first) + 1);
    if (!r->prefix) return rnnck__oom();
    memcpy(r->prefix, first, (size_t)(slash - first));
    r->prefix[slash - first] = 0;
    char text[64];
    bool present;
    if ((st = read_small(r, "byteorder", text, sizeof text, &present))) return st;
    if (present) {
        if (!strcmp(text, "big"))
            r->big_endian = 1;
        else if (strcmp(text, "little") != 0)
            return rnnck__err(RNNCK_E_FORMAT, "%s: byteorder record says '%.20s'", r->path, text);
    }
    return RNNCK_OK;
}

static rnnck_status read_pytorch(const char *path, const rnnck_open_opts *opts, rnnck_model **out) {
    rnnck__err_clear();
    if (!path || !out) return rnnck__err(RNNCK_E_USAGE, "pytorch reader: NULL argument");
    FILE *f = fopen(path, "rb");
    if (!f) return rnnck__err(RNNCK_E_IO, "%s: cannot open", path);
    unsigned char head[512];
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    if (n >= 262 && !memcmp(head + 257, "ustar", 5)) return legacy_refusal(path);
    pt_reader r = {.path = path};
    if (opts && opts->limits)
        r.lim = *opts->limits;
    else
        rnnck_limits_init(&r.lim);
    if (is_legacy(head, n)) {
        rnnck_status st = rnnck__pt_read_legacy(&r, opts, out);
        rnnck__pt_reader_free(&r);
        return st;
    }
    rnnck_status st = rnnck__zsrc_new(&r.src);
    if (!st) st = open_archive(&r);
    unsigned char *pkl = NULL;
    size_t len = 0;
    /* the member name and the label for messages, each sized to fit: paths
     * run to PATH_MAX and the prefix comes from the archive */
    char *member = NULL, *what = NULL;
    if (!st) {
        member = rnnck__asprintf("%s/data.pkl", r.prefix);
        what = rnnck__asprintf("%s: %s/data.pkl", path, r.prefix);
        if (!member || !what) st = rnnck__oom();
    }
    if (!st) {
        int64_t idx;
        st = rnnck__zip_find(r.z, member, &idx);
        if (st)
            st = rnnck__err(RNNCK_E_FORMAT, "%s: archive has no %s/data.pkl record", path, r.prefix);
        else /* metadata has its own limit, not the one for tensor data */
            st = rnnck__zip_read(r.z, idx, rnnck__meta_limit(rnnck__zip_file_size(r.z)), &pkl, &len);
    }
    pk_machine *pm = NULL;
    pk_value *root = NULL;
    pk_hooks hooks = {.ctx = &r,
                      .persistent_load = rnnck__pt_persistent_load,
                      .reduce = rnnck__pt_reduce,
                      .classify = rnnck__pt_classify,
                      .max_values = PT_MAX_VALUES(&r)};
    if (!st) st = rnnck__pk_load(pkl, len, what, &hooks, &pm, &root);
    rnnck__sd sd;
    rnnck__sd_init_for(&sd, opts, path);
    if (!st) st = rnnck__pt_collect(&sd, root, opts, path);
    rnnck_model *m = NULL;
    if (!st) st = rnnck__sd_build(&sd, path, opts, &m);
    /* the model reads its tensors from the archive from now on */
    if (!st) st = rnnck__zsrc_attach(m, r.src, r.z, path);
    if (!st) {
        r.src = NULL;
        r.z = NULL;
        *out = m;
    } else {
        rnnck_model_free(m);
    }
    rnnck__sd_free(&sd);
    rnnck__pk_machine_free(pm);
    free(pkl);
    free(member);
    free(what);
    rnnck__pt_reader_free(&r);
    return st;
}

const rnnck__format rnnck__format_pytorch = {
    .name = "pytorch",
    .extensions = ",.pt,.pth,",
    .detect = detect_pytorch,
    .read = read_pytorch,
    .write = rnnck__pytorch_write,
};
