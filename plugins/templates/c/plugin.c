// {{name}}: a Tessera token plugin. Sets the access-token claim `hello` to
// the client id. Return true with *ret set, or false with *err set; free ctx;
// every returned string must come from malloc (token_plugin_string_dup*).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "token_plugin.h"

// The client id as a JSON string: quotes, backslashes and control
// characters escaped.
static char *json_string(const token_plugin_string_t *s) {
    char *out = malloc(s->len * 6 + 3), *p = out;
    if (!out) return NULL;
    *p++ = '"';
    for (size_t i = 0; i < s->len; i++) {
        unsigned char ch = s->ptr[i];
        if (ch == '"' || ch == '\\') { *p++ = '\\'; *p++ = (char)ch; }
        else if (ch < 0x20) p += sprintf(p, "\\u%04x", ch);
        else *p++ = (char)ch;
    }
    *p++ = '"';
    *p = '\0';
    return out;
}

bool exports_token_plugin_on_token(token_plugin_token_context_t *ctx, token_plugin_decision_t *ret,
                                   token_plugin_string_t *err) {
    char *id = json_string(&ctx->client.id);
    char *claims = id ? malloc(strlen(id) + 12) : NULL;
    tessera_plugin_types_token_context_free(ctx);
    if (!claims) {
        free(id);
        token_plugin_string_dup(err, "out of memory");
        return false;
    }
    sprintf(claims, "{\"hello\":%s}", id);
    free(id);
    ret->tag = TESSERA_PLUGIN_TYPES_DECISION_ALLOW;
    token_plugin_string_dup(&ret->val.allow.access_token_claims_json, claims);
    token_plugin_string_dup(&ret->val.allow.id_token_claims_json, "{}");
    ret->val.allow.drop_scopes.ptr = NULL;
    ret->val.allow.drop_scopes.len = 0;
    free(claims);
    return true;
}
