//! zig-audience-guard: refuses a token whose audience the binding does not
//! allow. The same rule as examples/c-audience-guard, in Zig.
//!
//! Config (the binding's config JSON):
//!   {"allowed_audiences": ["https://api.example.com/billing", ...]}
//!
//! * Every audience of the token must be in `allowed_audiences`; otherwise the
//!   request is denied with `access_denied` and a description naming the first
//!   audience refused. A token without audience passes. An allowed token is
//!   left unchanged.
//! * A config without `allowed_audiences`, or where it is not a list of
//!   strings, is a broken binding: the plugin returns `err` and the binding's
//!   failure policy decides.
//!
//! The bindings are wit-bindgen's C bindings (token_plugin.h/.c), imported
//! with @cImport; Zig's standard library parses the config. Build: see
//! plugins/README.md or build.sh (note `--stack 65536`).

const std = @import("std");
const c = @import("token_plugin.zig"); // zig translate-c of wit-bindgen's token_plugin.h (build.sh)

/// wasi-libc's malloc: the bindings free what the plugin returns with free().
const allocator = std.heap.c_allocator;

const config_error = "config: allowed_audiences must be a list of strings";

/// Views a WIT string as a Zig slice (no copy).
fn slice(s: c.token_plugin_string_t) []const u8 {
    if (s.len == 0) return "";
    return s.ptr[0..s.len];
}

/// Copies `text` into a malloc'd WIT string, as the bindings expect.
fn setString(out: *c.token_plugin_string_t, text: []const u8) void {
    c.token_plugin_string_dup_n(out, text.ptr, text.len);
}

/// The allowed audiences, or null when the config does not name them as a
/// list of strings.
fn allowedAudiences(arena: std.mem.Allocator, config: []const u8) ?[]const std.json.Value {
    const parsed = std.json.parseFromSliceLeaky(std.json.Value, arena, config, .{}) catch return null;
    const object = switch (parsed) {
        .object => |o| o,
        else => return null,
    };
    const list = switch (object.get("allowed_audiences") orelse return null) {
        .array => |a| a.items,
        else => return null,
    };
    for (list) |item| if (item != .string) return null;
    return list;
}

fn isAllowed(allowed: []const std.json.Value, audience: []const u8) bool {
    for (allowed) |item| if (std.mem.eql(u8, item.string, audience)) return true;
    return false;
}

/// The description goes to the client: printable ASCII only, bounded length.
fn deny(ret: *c.token_plugin_decision_t, audience: []const u8) void {
    const prefix = "audience not allowed: ";
    var text: [prefix.len + 200]u8 = undefined;
    @memcpy(text[0..prefix.len], prefix);
    const shown = @min(audience.len, 200);
    for (audience[0..shown], text[prefix.len..][0..shown]) |ch, *out| {
        out.* = if (ch >= 0x20 and ch < 0x7f) ch else '?';
    }
    ret.tag = c.TESSERA_PLUGIN_TYPES_DECISION_DENY;
    ret.val.deny.code = c.TESSERA_PLUGIN_TYPES_DENIAL_CODE_ACCESS_DENIED;
    setString(&ret.val.deny.description, text[0 .. prefix.len + shown]);
}

fn allowUnchanged(ret: *c.token_plugin_decision_t) void {
    ret.tag = c.TESSERA_PLUGIN_TYPES_DECISION_ALLOW;
    setString(&ret.val.allow.access_token_claims_json, "{}");
    setString(&ret.val.allow.id_token_claims_json, "{}");
    ret.val.allow.drop_scopes = .{ .ptr = null, .len = 0 };
}

/// The world's `on-token` export, called by wit-bindgen's C glue. Returns
/// false with `err` set for `err(text)`.
export fn exports_token_plugin_on_token(
    ctx: *c.token_plugin_token_context_t,
    ret: *c.token_plugin_decision_t,
    err: *c.token_plugin_string_t,
) bool {
    defer c.tessera_plugin_types_token_context_free(ctx);
    var arena_state = std.heap.ArenaAllocator.init(allocator);
    defer arena_state.deinit();

    const allowed = allowedAudiences(arena_state.allocator(), slice(ctx.config_json)) orelse {
        setString(err, config_error);
        return false;
    };
    const audiences = if (ctx.audience.len == 0) &[_]c.token_plugin_string_t{} else ctx.audience.ptr[0..ctx.audience.len];
    for (audiences) |audience| {
        if (!isAllowed(allowed, slice(audience))) {
            deny(ret, slice(audience));
            return true;
        }
    }
    allowUnchanged(ret);
    return true;
}
