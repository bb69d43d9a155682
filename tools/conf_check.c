/*
 * conf_check.c - host tool: check an appliance.conf and list the files it
 * names (certificates and keys), for `make image CONF=...`.
 *
 *   conf-check FILE   prints each named file (relative to FILE's folder),
 *                     one per line, and exits 0; on errors prints them as
 *                     FILE:LINE:COLUMN: what was expected, on stderr, and
 *                     exits 1 (a file with errors configures nothing, so it
 *                     names no files either).
 * The same parser (appliance/config/, firewall grammar included) runs in
 * the appliance, so a file this tool accepts is a file consoled, netd and
 * tlsd accept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"

static char text[1 << 20];
static struct conf conf;
static struct conf_result result;

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: conf-check appliance.conf\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f) {
        perror(argv[1]);
        return 2;
    }
    size_t len = fread(text, 1, sizeof text, f);
    fclose(f);
    if (len == sizeof text) {
        fprintf(stderr, "%s: larger than %zu bytes\n", argv[1], sizeof text);
        return 2;
    }
    const char *base = strrchr(argv[1], '/');
    base = base ? base + 1 : argv[1];
    struct conf_parser p = { .file = base };
    int err = conf_parse(&p, text, len, &conf, &result);
    for (unsigned i = 0; i < result.n_errors; i++)
        fprintf(stderr, "%s\n", result.errors[i].msg); /* already "FILE:LINE:COLUMN: ..." */
    for (unsigned t = 0; t < conf.n_tls; t++)
        for (unsigned c = 0; c < conf.tls[t].n_certs; c++)
            printf("%s\n%s\n", conf.tls[t].certs[c].cert, conf.tls[t].certs[c].key);
    return err ? 1 : 0;
}
