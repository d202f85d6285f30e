//! {{name}}: a Tessera token plugin. Sets the access-token claim `hello` to
//! the client id. The bindings are wit-bindgen's C bindings, turned into
//! token_plugin.zig by build.sh (zig translate-c).

const std = @import("std");
const c = @import("token_plugin.zig");

export fn exports_token_plugin_on_token(
    ctx: *c.token_plugin_token_context_t,
    ret: *c.token_plugin_decision_t,
    err: *c.token_plugin_string_t,
) bool {
    defer c.tessera_plugin_types_token_context_free(ctx);
    const id: []const u8 = if (ctx.client.id.len == 0) "" else ctx.client.id.ptr[0..ctx.client.id.len];
    const claims = std.json.Stringify.valueAlloc(std.heap.c_allocator, .{ .hello = id }, .{}) catch {
        c.token_plugin_string_dup(err, "out of memory");
        return false;
    };
    defer std.heap.c_allocator.free(claims);
    ret.tag = c.TESSERA_PLUGIN_TYPES_DECISION_ALLOW;
    c.token_plugin_string_dup_n(&ret.val.allow.access_token_claims_json, claims.ptr, claims.len);
    c.token_plugin_string_dup(&ret.val.allow.id_token_claims_json, "{}");
    ret.val.allow.drop_scopes = .{ .ptr = null, .len = 0 };
    return true;
}
