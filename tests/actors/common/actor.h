// Helpers shared by the test actors: short names for the generated binding types, string and
// state plumbing, and logging through `runtime.log`. Include after nothing else:
//
//     #include "actor.h"
//
// Ownership, as wit-bindgen-c's bindings define it:
// - a host call borrows its arguments; what it returns (ids, data, error text) is the actor's
//   and is freed with the matching `*_free`;
// - a callback owns its arguments (the state and the params) and returns a new state and, on
//   failure, an error text that the bindings free after the host has read it.
#ifndef TEST_ACTOR_H
#define TEST_ACTOR_H

#include "tcp_actor.h"

#include <stdlib.h>
#include <string.h>

typedef tcp_actor_string_t string_t;
typedef tcp_actor_list_u8_t bytes_t;
typedef tcp_actor_tuple1_option_list_u8_t state_out_t;

// A borrowed view of a C string, for host-call arguments.
static inline string_t str(const char *s) {
    return (string_t){(uint8_t *)s, strlen(s)};
}

// A pointer to a borrowed view of a C string, for host-call arguments: STR("active").
#define STR(s) (&(string_t){(uint8_t *)(s), strlen(s)})

// A NUL-terminated copy of a WIT string (ids are short; the caller frees).
static inline char *cstr(const string_t *s) {
    char *c = malloc(s->len + 1);
    memcpy(c, s->ptr, s->len);
    c[s->len] = 0;
    return c;
}

// A bounded text buffer. wasi-libc's printf family would pull in WASI file imports (which the
// component could not satisfy), so the actors build text with these instead.
typedef struct {
    char buf[2048];
    size_t len;
} text_t;

static inline void text_add_n(text_t *t, const void *s, size_t n) {
    size_t room = sizeof t->buf - 1 - t->len;
    if (n > room) {
        n = room;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static inline void text_add(text_t *t, const char *s) {
    text_add_n(t, s, strlen(s));
}

static inline void text_add_u64(text_t *t, uint64_t v) {
    char digits[24];
    size_t i = sizeof digits;
    do {
        digits[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    text_add_n(t, digits + i, sizeof digits - i);
}

// Writes a line to the host's log (`theater:simple/runtime.log`).
static inline void log_text(const char *msg) {
    string_t s = str(msg);
    theater_simple_runtime_log(&s);
}

// The Theater state convention: every callback gets the state and returns the next one. These
// actors keep what they need in C globals (one instance per actor), so they hand the state
// back as it came.
static inline void keep_state(bytes_t *state, state_out_t *out) {
    out->f0.is_some = state != NULL;
    if (state != NULL) {
        out->f0.val = *state;
    }
}

// Fails a callback with `msg` (the host stops the connection or the actor, as the contract says).
static inline bool fail(string_t *err, const char *msg) {
    tcp_actor_string_dup(err, msg);
    return false;
}

// Fails a callback with an error a host call returned (ownership moves to the bindings).
static inline bool fail_with(string_t *err, string_t host_err) {
    *err = host_err;
    return false;
}

// Sends all of `len` bytes; true on success, else `err` holds the host's error.
static inline bool send_bytes(string_t *conn, const uint8_t *data, size_t len, string_t *err) {
    bytes_t list = {(uint8_t *)data, len};
    uint64_t sent;
    return theater_simple_tcp_send(conn, &list, &sent, err);
}

static inline bool send_text(string_t *conn, const char *text, string_t *err) {
    return send_bytes(conn, (const uint8_t *)text, strlen(text), err);
}

// `init` for an actor that needs no start-up work: it keeps the state as it came.
#define INIT_KEEPS_STATE                                                                      \
    bool exports_theater_simple_actor_init(bytes_t *state, tcp_actor_tuple1_string_t *params, \
                                           state_out_t *out, string_t *err) {                 \
        (void)err;                                                                            \
        tcp_actor_tuple1_string_free(params);                                                 \
        keep_state(state, out);                                                               \
        return true;                                                                          \
    }

// Reads one line (up to and including '\n', at most `cap - 1` bytes) with passive `receive`,
// one byte at a time so that nothing after the line is taken off the connection (STARTTLS
// needs that). Returns the length, 0 at end of stream, -1 on error (then `err` is set).
static inline int receive_line(string_t *conn, char *line, size_t cap, string_t *err) {
    size_t n = 0;
    while (n + 1 < cap) {
        bytes_t got;
        if (!theater_simple_tcp_receive(conn, 1, &got, err)) {
            return -1;
        }
        if (got.len == 0) {
            break;
        }
        line[n++] = (char)got.ptr[0];
        tcp_actor_list_u8_free(&got);
        if (line[n - 1] == '\n') {
            break;
        }
    }
    line[n] = 0;
    return (int)n;
}

#endif
