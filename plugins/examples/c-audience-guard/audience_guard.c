// c-audience-guard: refuses a token whose audience the binding does not allow.
//
// Config (the binding's config JSON):
//   {"allowed_audiences": ["https://api.example.com/billing", ...]}
//
// * Every audience of the token must be in `allowed_audiences`; otherwise the
//   request is denied with `access_denied` and a description naming the first
//   audience refused. A token without audience passes. An allowed token is
//   left unchanged.
// * A config without `allowed_audiences`, or where it is not a list of strings,
//   is a broken binding: the plugin returns `err` and the binding's failure
//   policy decides.
//
// It parses the config with the small JSON reader below (objects, arrays,
// strings with every escape, numbers and literals; no libraries), which is
// enough for any valid JSON config. Build: see plugins/README.md or build.sh.

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token_plugin.h"

// ---- a minimal JSON reader -------------------------------------------------

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} cursor_t;

typedef struct {
    uint8_t *ptr;
    size_t len;
} bytes_t;

static void skip_ws(cursor_t *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static bool eat(cursor_t *c, uint8_t ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

static int hex_digit(uint8_t ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static bool read_hex4(cursor_t *c, uint32_t *out) {
    if (c->end - c->p < 4) return false;
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(c->p[i]);
        if (d < 0) return false;
        v = v << 4 | (uint32_t)d;
    }
    c->p += 4;
    *out = v;
    return true;
}

static size_t put_utf8(uint8_t *out, uint32_t cp) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = (uint8_t)(0xC0 | cp >> 6); out[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | cp >> 12); out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F)); return 3;
    }
    out[0] = (uint8_t)(0xF0 | cp >> 18); out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)); out[3] = (uint8_t)(0x80 | (cp & 0x3F)); return 4;
}

// Reads a JSON string at the cursor. With `out`, stores its decoded UTF-8 in a
// malloc'd buffer (the decoded text is never longer than the escaped one).
static bool read_string(cursor_t *c, bytes_t *out) {
    if (!eat(c, '"')) return false;
    const uint8_t *start = c->p;
    while (c->p < c->end && *c->p != '"') c->p += (*c->p == '\\') ? 2 : 1;
    if (c->p >= c->end) return false;
    const uint8_t *stop = c->p++;
    if (!out) return true;

    uint8_t *buf = malloc((size_t)(stop - start) + 1);
    if (!buf) return false;
    size_t n = 0;
    cursor_t s = {start, stop};
    while (s.p < s.end) {
        uint8_t ch = *s.p++;
        if (ch != '\\') { buf[n++] = ch; continue; }
        if (s.p >= s.end) goto bad;
        switch (*s.p++) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            uint32_t cp, lo;
            if (!read_hex4(&s, &cp)) goto bad;
            // A surrogate pair is two \u escapes for one code point.
            if (cp >= 0xD800 && cp <= 0xDBFF && s.end - s.p >= 6 && s.p[0] == '\\' && s.p[1] == 'u') {
                cursor_t peek = {s.p + 2, s.end};
                if (read_hex4(&peek, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    s.p = peek.p;
                }
            }
            if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // a lone surrogate
            n += put_utf8(buf + n, cp);
            break;
        }
        default: goto bad;
        }
    }
    out->ptr = buf;
    out->len = n;
    return true;
bad:
    free(buf);
    return false;
}

// Skips one JSON value of any kind. Depth-limited so a hostile config cannot
// exhaust the stack.
static bool skip_value(cursor_t *c, int depth) {
    if (depth > 64) return false;
    skip_ws(c);
    if (c->p >= c->end) return false;
    uint8_t ch = *c->p;
    if (ch == '"') return read_string(c, NULL);
    if (ch == '{' || ch == '[') {
        uint8_t close = ch == '{' ? '}' : ']';
        c->p++;
        if (eat(c, close)) return true;
        do {
            if (ch == '{' && !(read_string(c, NULL) && eat(c, ':'))) return false;
            if (!skip_value(c, depth + 1)) return false;
        } while (eat(c, ','));
        return eat(c, close);
    }
    // A number or a literal: a run of the characters they are made of.
    const uint8_t *start = c->p;
    while (c->p < c->end && *c->p && strchr("0123456789+-.eEtrufalsn", *c->p)) c->p++;
    return c->p > start;
}

typedef struct {
    bytes_t *items;
    size_t len;
} string_list_t;

static void free_list(string_list_t *list) {
    for (size_t i = 0; i < list->len; i++) free(list->items[i].ptr);
    free(list->items);
    list->items = NULL;
    list->len = 0;
}

// Reads a JSON array of strings.
static bool read_string_list(cursor_t *c, string_list_t *list) {
    if (!eat(c, '[')) return false;
    if (eat(c, ']')) return true;
    do {
        bytes_t item;
        bytes_t *grown = realloc(list->items, (list->len + 1) * sizeof(bytes_t));
        if (!grown) return false;
        list->items = grown;
        if (!read_string(c, &item)) return false;
        list->items[list->len++] = item;
    } while (eat(c, ','));
    return eat(c, ']');
}

// Finds `allowed_audiences` among the top-level keys of the config object.
static bool read_allowed(const token_plugin_string_t *config, string_list_t *allowed) {
    cursor_t c = {config->ptr, config->ptr + config->len};
    bool found = false;
    if (!eat(&c, '{')) return false;
    if (!eat(&c, '}')) {
        do {
            bytes_t key;
            if (!read_string(&c, &key)) return false;
            bool wanted = key.len == 17 && memcmp(key.ptr, "allowed_audiences", 17) == 0;
            free(key.ptr);
            if (!eat(&c, ':')) return false;
            if (wanted && !found) {
                if (!read_string_list(&c, allowed)) return false;
                found = true;
            } else if (!skip_value(&c, 0)) {
                return false;
            }
        } while (eat(&c, ','));
        if (!eat(&c, '}')) return false;
    }
    skip_ws(&c);
    return found && c.p == c.end;
}

// ---- the plugin -----------------------------------------------------------

static bool is_allowed(const string_list_t *allowed, const token_plugin_string_t *aud) {
    for (size_t i = 0; i < allowed->len; i++) {
        if (allowed->items[i].len == aud->len && memcmp(allowed->items[i].ptr, aud->ptr, aud->len) == 0) {
            return true;
        }
    }
    return false;
}

// The description goes to the client: printable ASCII only, bounded length.
static void deny_audience(tessera_plugin_types_decision_t *ret, const token_plugin_string_t *aud) {
    static const char prefix[] = "audience not allowed: ";
    size_t shown = aud->len > 200 ? 200 : aud->len;
    char *text = malloc(sizeof prefix + shown);
    if (text) {
        memcpy(text, prefix, sizeof prefix - 1);
        for (size_t i = 0; i < shown; i++) {
            uint8_t ch = aud->ptr[i];
            text[sizeof prefix - 1 + i] = (ch >= 0x20 && ch < 0x7F) ? (char)ch : '?';
        }
        text[sizeof prefix - 1 + shown] = '\0';
    }
    ret->tag = TESSERA_PLUGIN_TYPES_DECISION_DENY;
    ret->val.deny.code = TESSERA_PLUGIN_TYPES_DENIAL_CODE_ACCESS_DENIED;
    token_plugin_string_dup(&ret->val.deny.description, text ? text : "audience not allowed");
    free(text);
}

bool exports_token_plugin_on_token(token_plugin_token_context_t *ctx, token_plugin_decision_t *ret,
                                   token_plugin_string_t *err) {
    string_list_t allowed = {NULL, 0};
    bool ok = read_allowed(&ctx->config_json, &allowed);
    if (!ok) {
        free_list(&allowed);
        tessera_plugin_types_token_context_free(ctx);
        token_plugin_string_dup(err, "config: allowed_audiences must be a list of strings");
        return false;
    }

    const token_plugin_string_t *refused = NULL;
    for (size_t i = 0; i < ctx->audience.len && !refused; i++) {
        if (!is_allowed(&allowed, &ctx->audience.ptr[i])) refused = &ctx->audience.ptr[i];
    }
    if (refused) {
        deny_audience(ret, refused);
    } else {
        ret->tag = TESSERA_PLUGIN_TYPES_DECISION_ALLOW;
        token_plugin_string_dup(&ret->val.allow.access_token_claims_json, "{}");
        token_plugin_string_dup(&ret->val.allow.id_token_claims_json, "{}");
        ret->val.allow.drop_scopes.ptr = NULL;
        ret->val.allow.drop_scopes.len = 0;
    }
    free_list(&allowed);
    tessera_plugin_types_token_context_free(ctx);
    return true;
}
