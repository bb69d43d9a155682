/*
 * conf_diff.c - a line diff for `show | compare` (contract in conf.h).
 *
 * Myers's O(ND) algorithm in linear space ("An O(ND) Difference Algorithm
 * and Its Variations", 1986, section 4b): trim the common head and tail,
 * find the middle snake by running the forward and the reverse search
 * together until they overlap, split there and recurse on both halves.
 * The two V arrays live in the caller's struct conf_diff_work and are
 * reused by every level (a level is done with them before it recurses).
 * Each split halves the edit distance, so the recursion is O(log D) deep.
 *
 * The result is two flag arrays (line of A deleted, line of B added),
 * which the printer walks in step to write "- " and "+ " lines, with the
 * unchanged `tls PORT {` line of a block as context before its first
 * change.
 */
#include "conf.h"

#include <keel/string.h>

#include <keel/textbuf.h>

struct dctx {
    struct conf_diff_work *w;
    const char *a, *b;
};

static bool line_eq(const struct dctx *d, int i, int j)
{
    const struct conf_diff_work *w = d->w;
    return w->a_len[i] == w->b_len[j] && memcmp(d->a + w->a_off[i], d->b + w->b_off[j], w->a_len[i]) == 0;
}

/* Splits TEXT into lines; false if there are more than the workspace holds. */
static bool split_lines(const char *text, size_t len, uint32_t *off, uint16_t *llen, int *n)
{
    int count = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        if (count == CONF_DIFF_MAX_LINES || pos > UINT32_MAX)
            return false;
        off[count] = (uint32_t)pos;
        llen[count] = (uint16_t)(end - pos > 0xffff ? 0xffff : end - pos);
        count++;
        pos = end + 1;
    }
    *n = count;
    return true;
}

static void lcs(struct dctx *d, int alo, int ahi, int blo, int bhi);

/* The middle snake of A[alo, ahi) and B[blo, bhi), both non-empty and with
 * different first and last lines; recurses on the two halves. */
static void bisect(struct dctx *d, int alo, int ahi, int blo, int bhi)
{
    int32_t *v1 = d->w->vf, *v2 = d->w->vb;
    int n = ahi - alo, m = bhi - blo;
    int max_d = (n + m + 1) / 2, off = max_d, vlen = 2 * max_d;
    for (int i = 0; i < vlen + 2; i++)
        v1[i] = v2[i] = -1;
    v1[off + 1] = 0;
    v2[off + 1] = 0;
    int delta = n - m;
    bool front = (delta & 1) != 0; /* odd: overlap is checked on the forward pass */
    int k1start = 0, k1end = 0, k2start = 0, k2end = 0;
    for (int dd = 0; dd < max_d; dd++) {
        for (int k1 = -dd + k1start; k1 <= dd - k1end; k1 += 2) {
            int ko = off + k1;
            int x1 = (k1 == -dd || (k1 != dd && v1[ko - 1] < v1[ko + 1])) ? v1[ko + 1] : v1[ko - 1] + 1;
            int y1 = x1 - k1;
            while (x1 < n && y1 < m && line_eq(d, alo + x1, blo + y1)) {
                x1++;
                y1++;
            }
            v1[ko] = x1;
            if (x1 > n) {
                k1end += 2;
            } else if (y1 > m) {
                k1start += 2;
            } else if (front) {
                int k2o = off + delta - k1;
                if (k2o >= 0 && k2o < vlen && v2[k2o] != -1 && x1 >= n - v2[k2o]) {
                    lcs(d, alo, alo + x1, blo, blo + y1);
                    lcs(d, alo + x1, ahi, blo + y1, bhi);
                    return;
                }
            }
        }
        for (int k2 = -dd + k2start; k2 <= dd - k2end; k2 += 2) {
            int ko = off + k2;
            int x2 = (k2 == -dd || (k2 != dd && v2[ko - 1] < v2[ko + 1])) ? v2[ko + 1] : v2[ko - 1] + 1;
            int y2 = x2 - k2;
            while (x2 < n && y2 < m && line_eq(d, alo + n - x2 - 1, blo + m - y2 - 1)) {
                x2++;
                y2++;
            }
            v2[ko] = x2;
            if (x2 > n) {
                k2end += 2;
            } else if (y2 > m) {
                k2start += 2;
            } else if (!front) {
                int k1o = off + delta - k2;
                if (k1o >= 0 && k1o < vlen && v1[k1o] != -1) {
                    int x1 = v1[k1o];
                    int y1 = off + x1 - k1o;
                    if (x1 >= n - x2) {
                        lcs(d, alo, alo + x1, blo, blo + y1);
                        lcs(d, alo + x1, ahi, blo + y1, bhi);
                        return;
                    }
                }
            }
        }
    }
    /* No common line at all. */
    for (int i = alo; i < ahi; i++)
        d->w->a_del[i] = 1;
    for (int j = blo; j < bhi; j++)
        d->w->b_add[j] = 1;
}

static void lcs(struct dctx *d, int alo, int ahi, int blo, int bhi)
{
    while (alo < ahi && blo < bhi && line_eq(d, alo, blo)) {
        alo++;
        blo++;
    }
    while (alo < ahi && blo < bhi && line_eq(d, ahi - 1, bhi - 1)) {
        ahi--;
        bhi--;
    }
    if (alo == ahi) {
        for (int j = blo; j < bhi; j++)
            d->w->b_add[j] = 1;
        return;
    }
    if (blo == bhi) {
        for (int i = alo; i < ahi; i++)
            d->w->a_del[i] = 1;
        return;
    }
    bisect(d, alo, ahi, blo, bhi);
}

static bool is_block_open(const char *s, size_t n) { return n >= 6 && memcmp(s, "tls ", 4) == 0 && s[n - 1] == '{'; }

int conf_diff(const char *a, size_t alen, const char *b, size_t blen, struct conf_diff_work *w, char *out, size_t cap,
              size_t *outlen)
{
    if ((!a && alen) || (!b && blen) || !w)
        return CONF_E_INVAL;
    int na, nb;
    if (!split_lines(a, alen, w->a_off, w->a_len, &na) || !split_lines(b, blen, w->b_off, w->b_len, &nb))
        return CONF_E_TOO_BIG;
    memset(w->a_del, 0, sizeof w->a_del);
    memset(w->b_add, 0, sizeof w->b_add);
    struct dctx d = { w, a, b };
    lcs(&d, 0, na, 0, nb);

    struct textbuf o;
    tb_init(&o, out, cap);
    int i = 0, j = 0;
    int ctx = -1; /* line of A: the open, unchanged `tls PORT {` */
    bool ctx_shown = false;
    while (i < na || j < nb) {
        const char *s;
        size_t n;
        const char *mark;
        if (i < na && w->a_del[i]) {
            s = a + w->a_off[i];
            n = w->a_len[i++];
            mark = "- ";
        } else if (j < nb && w->b_add[j]) {
            s = b + w->b_off[j];
            n = w->b_len[j++];
            mark = "+ ";
        } else {
            /* A common line: the unflagged lines of A and B pair up in order. */
            if (i >= na || j >= nb)
                break; /* cannot happen; never read past either text */
            s = a + w->a_off[i];
            n = w->a_len[i];
            if (is_block_open(s, n)) {
                ctx = i;
                ctx_shown = false;
            } else if (n == 1 && s[0] == '}') {
                ctx = -1;
            }
            i++;
            j++;
            continue;
        }
        if (ctx >= 0 && !ctx_shown) {
            tb_put(&o, "  ");
            tb_putn(&o, a + w->a_off[ctx], w->a_len[ctx]);
            tb_put(&o, "\n");
            ctx_shown = true;
        }
        tb_putn(&o, mark, n ? 2 : 1); /* a blank line: "+" or "-" alone, no trailing blank */
        tb_putn(&o, s, n);
        tb_put(&o, "\n");
    }
    if (outlen)
        *outlen = o.len;
    return CONF_OK;
}
