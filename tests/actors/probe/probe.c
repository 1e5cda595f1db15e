// The probe: every host function of `theater:simple/tcp` and `tcp-ext`, driven by text commands,
// so that a test can make any call with any arguments through the real WIT boundary and read
// the exact result or error text.
//
// Control connections: every connection pushed by a listener (handle-connection) or
// transferred in (handle-connection-transfer). The probe greets each with "hello ACTOR-ID\n",
// then reads newline-terminated commands from it. A command is words separated by single
// spaces; in each word "%XX" stands for the byte 0xXX (so "%20" is a space, "%0A" a newline,
// and two spaces in a row make an empty word). Each command gets one reply line:
//
//   ok [VALUE]     the call succeeded (VALUE: id, address, data, count, ...)
//   err TEXT       the host returned the error TEXT
//   bad TEXT       the probe did not understand the command
//
// In VALUE and TEXT, '%', CR, LF and bytes outside printable ASCII are written as "%XX".
//
// Commands (C: a connection id, L: a listener id; the host call they make):
//   connect ADDR | listen ADDR | accept L | activate C | set-active C MODE
//   transfer C ACTOR | transfer-async C ACTOR | peer-address C | send C DATA | send-n C COUNT
//   receive C MAX | close C | close-listener L | upgrade-server C | upgrade-client C NAME
//   local-address ID | shutdown C HOW | abort C | receive-timeout C MAX MS
//   set-option C NAME VALUE | tls-info C | stats C | log TEXT
// and, without a host call:
//   pushed C     the bytes on-data delivered for C since the last `pushed C`
//   closed C     the reason on-close gave for C, or "none"
//   passives C   how many times on-passive ran for C
//   handoff ACTOR  replies "ok", then hands this control connection to ACTOR (transfer-async)
//
// Built twice: as `probe` (active control connections, every callback exported) and, with
// PROBE_PASSIVE, as `probe_passive` (see that folder).
#include "actor.h"

// ------------------------------------------------------------------ a growable byte buffer

typedef struct {
    uint8_t *ptr;
    size_t len, cap;
} buf_t;

static void buf_add(buf_t *b, const void *p, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (b->len + n + 1 > cap) {
            cap *= 2;
        }
        b->ptr = realloc(b->ptr, cap);
        b->cap = cap;
    }
    memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = 0;
}

static void buf_add_str(buf_t *b, const char *s) {
    buf_add(b, s, strlen(s));
}

static void buf_add_u64(buf_t *b, uint64_t v) {
    text_t t = {0};
    text_add_u64(&t, v);
    buf_add_str(b, t.buf);
}

// Writes bytes with '%', CR, LF and non-printable bytes as %XX.
static void buf_add_escaped(buf_t *b, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == '%' || c < 0x20 || c >= 0x7f) {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_add(b, e, 3);
        } else {
            buf_add(b, &c, 1);
        }
    }
}

// ------------------------------------------------------------------ what the probe knows

// One connection this probe heard of: a control connection, or one a callback named.
typedef struct {
    char *id;
    bool control;
    buf_t line;   // a control connection's unfinished command
    buf_t pushed; // bytes on-data delivered, until `pushed` reads them
    char *closed; // on-close's reason
    uint64_t passives;
} slot_t;

static slot_t slots[512];
static size_t slot_count;
static char *self_id;

static slot_t *slot_of(const string_t *id) {
    for (size_t i = 0; i < slot_count; i++) {
        if (strlen(slots[i].id) == id->len && memcmp(slots[i].id, id->ptr, id->len) == 0) {
            return &slots[i];
        }
    }
    if (slot_count == sizeof slots / sizeof slots[0]) {
        __builtin_trap(); // more connections than any test opens
    }
    slot_t *s = &slots[slot_count++];
    memset(s, 0, sizeof *s);
    s->id = cstr(id);
    return s;
}

// ------------------------------------------------------------------ words and numbers

// Splits `line` at single spaces into at most `max` words, decoding %XX in place.
static size_t split(uint8_t *line, size_t len, string_t *words, size_t max) {
    size_t count = 0, start = 0;
    for (size_t i = 0; i <= len && count < max; i++) {
        if (i == len || line[i] == ' ') {
            uint8_t *w = line + start;
            size_t out = 0;
            for (size_t j = start; j < i; j++) {
                if (line[j] == '%' && j + 2 < i) {
                    char h[3] = {(char)line[j + 1], (char)line[j + 2], 0};
                    w[out++] = (uint8_t)strtoul(h, NULL, 16);
                    j += 2;
                } else {
                    w[out++] = line[j];
                }
            }
            words[count++] = (string_t){w, out};
            start = i + 1;
        }
    }
    return count;
}

static bool is(const string_t *word, const char *s) {
    return word->len == strlen(s) && memcmp(word->ptr, s, word->len) == 0;
}

// A decimal number (no sign, at most 20 digits).
static bool number(const string_t *word, uint64_t *out) {
    if (word->len == 0 || word->len > 20) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < word->len; i++) {
        if (word->ptr[i] < '0' || word->ptr[i] > '9') {
            return false;
        }
        v = v * 10 + (word->ptr[i] - '0');
    }
    *out = v;
    return true;
}

// ------------------------------------------------------------------ replies

static void ok_text(buf_t *r, const uint8_t *p, size_t n) {
    buf_add_str(r, "ok ");
    buf_add_escaped(r, p, n);
}

// The host's error text; frees it.
static void err_text(buf_t *r, string_t *err) {
    buf_add_str(r, "err ");
    buf_add_escaped(r, err->ptr, err->len);
    tcp_actor_string_free(err);
}

// `ok` or `err TEXT` for a call that returns nothing.
static void unit(buf_t *r, bool ok, string_t *err) {
    if (ok) {
        buf_add_str(r, "ok");
    } else {
        err_text(r, err);
    }
}

// `ok VALUE` or `err TEXT` for a call that returns a string or bytes; frees what it got.
static void value(buf_t *r, bool ok, string_t *got, string_t *err) {
    if (ok) {
        ok_text(r, got->ptr, got->len);
        tcp_actor_string_free(got);
    } else {
        err_text(r, err);
    }
}

static void tls_details(buf_t *r, theater_simple_tcp_ext_tls_details_t *t) {
    buf_add_str(r, "ok protocol=");
    buf_add_escaped(r, t->protocol.ptr, t->protocol.len);
    buf_add_str(r, " cipher=");
    buf_add_escaped(r, t->cipher_suite.ptr, t->cipher_suite.len);
    buf_add_str(r, " alpn=");
    if (t->alpn.is_some) {
        buf_add_escaped(r, t->alpn.val.ptr, t->alpn.val.len);
    } else {
        buf_add_str(r, "none");
    }
    buf_add_str(r, " certs=");
    buf_add_u64(r, t->peer_certificates.len);
    theater_simple_tcp_ext_tls_details_free(t);
}

static void counters(buf_t *r, theater_simple_tcp_ext_connection_counters_t *c) {
    buf_add_str(r, "ok in=");
    buf_add_u64(r, c->bytes_in);
    buf_add_str(r, " out=");
    buf_add_u64(r, c->bytes_out);
    buf_add_str(r, " chunks=");
    buf_add_u64(r, c->chunks_delivered);
    buf_add_str(r, " buffered=");
    buf_add_u64(r, c->buffered);
    buf_add_str(r, " state=");
    buf_add_escaped(r, c->state.ptr, c->state.len);
    buf_add_str(r, " mode=");
    buf_add_escaped(r, c->mode.ptr, c->mode.len);
    buf_add_str(r, " tls=");
    buf_add_escaped(r, c->tls.ptr, c->tls.len);
    theater_simple_tcp_ext_connection_counters_free(c);
}

// ------------------------------------------------------------------ the commands

// Runs one command line from `control` into the reply `r`. Returns false when the control
// connection was handed off (the caller must stop reading commands from it).
static bool run(string_t *control, uint8_t *line, size_t len, buf_t *r) {
    string_t w[5];
    size_t n = split(line, len, w, 5);
    string_t err, got;
    bytes_t data;
    uint64_t num, num2;
    const string_t *cmd = &w[0];

    if (is(cmd, "connect") && n == 2) {
        value(r, theater_simple_tcp_connect(&w[1], &got, &err), &got, &err);
    } else if (is(cmd, "listen") && n == 2) {
        value(r, theater_simple_tcp_listen(&w[1], &got, &err), &got, &err);
    } else if (is(cmd, "accept") && n == 2) {
        value(r, theater_simple_tcp_accept(&w[1], &got, &err), &got, &err);
    } else if (is(cmd, "activate") && n == 2) {
        unit(r, theater_simple_tcp_activate(&w[1], &err), &err);
    } else if (is(cmd, "set-active") && n == 3) {
        unit(r, theater_simple_tcp_set_active(&w[1], &w[2], &err), &err);
    } else if (is(cmd, "transfer") && n == 3) {
        unit(r, theater_simple_tcp_transfer(&w[1], &w[2], &err), &err);
    } else if (is(cmd, "transfer-async") && n == 3) {
        unit(r, theater_simple_tcp_transfer_async(&w[1], &w[2], &err), &err);
    } else if (is(cmd, "peer-address") && n == 2) {
        value(r, theater_simple_tcp_peer_address(&w[1], &got, &err), &got, &err);
    } else if (is(cmd, "send") && n == 3) {
        bytes_t out = {w[2].ptr, w[2].len};
        if (theater_simple_tcp_send(&w[1], &out, &num, &err)) {
            buf_add_str(r, "ok ");
            buf_add_u64(r, num);
        } else {
            err_text(r, &err);
        }
    } else if (is(cmd, "send-n") && n == 3 && number(&w[2], &num)) {
        bytes_t out = {malloc(num + 1), num};
        memset(out.ptr, 'x', num);
        if (theater_simple_tcp_send(&w[1], &out, &num2, &err)) {
            buf_add_str(r, "ok ");
            buf_add_u64(r, num2);
        } else {
            err_text(r, &err);
        }
        free(out.ptr);
    } else if (is(cmd, "receive") && n == 3 && number(&w[2], &num) && num <= UINT32_MAX) {
        if (theater_simple_tcp_receive(&w[1], (uint32_t)num, &data, &err)) {
            ok_text(r, data.ptr, data.len);
            tcp_actor_list_u8_free(&data);
        } else {
            err_text(r, &err);
        }
    } else if (is(cmd, "receive-timeout") && n == 4 && number(&w[2], &num) &&
               num <= UINT32_MAX && number(&w[3], &num2)) {
        if (theater_simple_tcp_ext_receive_timeout(&w[1], (uint32_t)num, num2, &data, &err)) {
            ok_text(r, data.ptr, data.len);
            tcp_actor_list_u8_free(&data);
        } else {
            err_text(r, &err);
        }
    } else if (is(cmd, "close") && n == 2) {
        unit(r, theater_simple_tcp_close(&w[1], &err), &err);
    } else if (is(cmd, "close-listener") && n == 2) {
        unit(r, theater_simple_tcp_close_listener(&w[1], &err), &err);
    } else if (is(cmd, "upgrade-server") && n == 2) {
        unit(r, theater_simple_tcp_upgrade_to_tls_server(&w[1], &err), &err);
    } else if (is(cmd, "upgrade-client") && n == 3) {
        unit(r, theater_simple_tcp_upgrade_to_tls_client(&w[1], &w[2], &err), &err);
    } else if (is(cmd, "local-address") && n == 2) {
        value(r, theater_simple_tcp_ext_local_address(&w[1], &got, &err), &got, &err);
    } else if (is(cmd, "shutdown") && n == 3) {
        unit(r, theater_simple_tcp_ext_shutdown(&w[1], &w[2], &err), &err);
    } else if (is(cmd, "abort") && n == 2) {
        unit(r, theater_simple_tcp_ext_abort(&w[1], &err), &err);
    } else if (is(cmd, "set-option") && n == 4) {
        unit(r, theater_simple_tcp_ext_set_option(&w[1], &w[2], &w[3], &err), &err);
    } else if (is(cmd, "tls-info") && n == 2) {
        theater_simple_tcp_ext_tls_details_t t;
        if (theater_simple_tcp_ext_tls_info(&w[1], &t, &err)) {
            tls_details(r, &t);
        } else {
            err_text(r, &err);
        }
    } else if (is(cmd, "stats") && n == 2) {
        theater_simple_tcp_ext_connection_counters_t c;
        if (theater_simple_tcp_ext_connection_stats(&w[1], &c, &err)) {
            counters(r, &c);
        } else {
            err_text(r, &err);
        }
    } else if (is(cmd, "log") && n == 2) {
        theater_simple_runtime_log(&w[1]);
        buf_add_str(r, "ok");
    } else if (is(cmd, "pushed") && n == 2) {
        slot_t *s = slot_of(&w[1]);
        ok_text(r, s->pushed.ptr, s->pushed.len);
        s->pushed.len = 0;
    } else if (is(cmd, "closed") && n == 2) {
        slot_t *s = slot_of(&w[1]);
        const char *reason = s->closed ? s->closed : "none";
        ok_text(r, (const uint8_t *)reason, strlen(reason));
    } else if (is(cmd, "passives") && n == 2) {
        buf_add_str(r, "ok ");
        buf_add_u64(r, slot_of(&w[1])->passives);
    } else if (is(cmd, "handoff") && n == 2) {
        // Reply first: once transferred, this actor can no longer send on it.
        if (send_text(control, "ok\n", &err)) {
            slot_of(control)->control = false;
            if (!theater_simple_tcp_transfer_async(control, &w[1], &err)) {
                theater_simple_runtime_log(&err);
                tcp_actor_string_free(&err);
            }
        } else {
            tcp_actor_string_free(&err);
        }
        return false;
    } else {
        buf_add_str(r, "bad unknown command or arguments");
    }
    return true;
}

// Runs a command and sends its reply line. False when the control connection is gone.
static bool serve(string_t *control, uint8_t *line, size_t len) {
    if (len > 0 && line[len - 1] == '\r') {
        len--;
    }
    buf_t reply = {0};
    bool keep = run(control, line, len, &reply);
    if (keep) {
        string_t err;
        buf_add_str(&reply, "\n");
        if (!send_bytes(control, reply.ptr, reply.len, &err)) {
            tcp_actor_string_free(&err);
            keep = false;
        }
    }
    free(reply.ptr);
    return keep;
}

// Greets a new control connection with this actor's id.
static bool greet(string_t *control, string_t *err) {
    text_t hello = {0};
    text_add(&hello, "hello ");
    text_add(&hello, self_id);
    text_add(&hello, "\n");
    return send_text(control, hello.buf, err);
}

// ------------------------------------------------------------------ callbacks

bool exports_theater_simple_actor_init(bytes_t *state, tcp_actor_tuple1_string_t *params,
                                       state_out_t *out, string_t *err) {
    (void)err;
    self_id = cstr(&params->f0);
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return true;
}

#ifndef PROBE_PASSIVE

// A control connection: pushed data carries commands.
static bool take_control(string_t *conn, string_t *err) {
    slot_of(conn)->control = true;
    return theater_simple_tcp_set_active(conn, STR("active"), err) && greet(conn, err);
}

bool exports_theater_simple_tcp_client_handle_connection(bytes_t *state,
                                                         tcp_actor_tuple1_string_t *params,
                                                         state_out_t *out, string_t *err) {
    bool ok = theater_simple_tcp_activate(&params->f0, err) && take_control(&params->f0, err);
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}

bool exports_theater_simple_tcp_client_handle_connection_transfer(
    bytes_t *state, tcp_actor_tuple1_string_t *params, state_out_t *out, string_t *err) {
    bool ok = take_control(&params->f0, err);
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}

// Commands on a control connection; bytes on any other connection are kept for `pushed`.
bool exports_theater_simple_tcp_client_on_data(bytes_t *state,
                                               tcp_actor_tuple2_string_list_u8_t *params,
                                               state_out_t *out, string_t *err) {
    (void)err;
    string_t *conn = &params->f0;
    slot_t *s = slot_of(conn);
    if (!s->control) {
        buf_add(&s->pushed, params->f1.ptr, params->f1.len);
    } else {
        buf_add(&s->line, params->f1.ptr, params->f1.len);
        size_t start = 0;
        for (size_t i = 0; i < s->line.len; i++) {
            if (s->line.ptr[i] == '\n') {
                // Decoded in place: the line is consumed either way.
                bool keep = serve(conn, s->line.ptr + start, i - start);
                start = i + 1;
                if (!keep) {
                    break;
                }
            }
        }
        memmove(s->line.ptr, s->line.ptr + start, s->line.len - start);
        s->line.len -= start;
    }
    tcp_actor_tuple2_string_list_u8_free(params);
    keep_state(state, out);
    return true;
}

bool exports_theater_simple_tcp_client_on_close(bytes_t *state,
                                                tcp_actor_tuple2_string_string_t *params,
                                                state_out_t *out, string_t *err) {
    (void)err;
    slot_t *s = slot_of(&params->f0);
    free(s->closed);
    s->closed = cstr(&params->f1);
    tcp_actor_tuple2_string_string_free(params);
    keep_state(state, out);
    return true;
}

bool exports_theater_simple_tcp_client_on_passive(bytes_t *state,
                                                  tcp_actor_tuple1_string_t *params,
                                                  state_out_t *out, string_t *err) {
    (void)err;
    slot_of(&params->f0)->passives++;
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return true;
}

#else

// The control connection, in passive mode: read a line, run it, until the peer's end.
bool exports_theater_simple_tcp_client_handle_connection_transfer(
    bytes_t *state, tcp_actor_tuple1_string_t *params, state_out_t *out, string_t *err) {
    string_t *conn = &params->f0;
    bool ok = greet(conn, err);
    buf_t line = {0};
    while (ok) {
        bytes_t got;
        if (!theater_simple_tcp_receive(conn, 1, &got, err)) {
            ok = false;
        } else if (got.len == 0) {
            ok = theater_simple_tcp_close(conn, err);
            break;
        } else if (got.ptr[0] == '\n') {
            tcp_actor_list_u8_free(&got);
            if (!serve(conn, line.ptr, line.len)) {
                break;
            }
            line.len = 0;
        } else {
            buf_add(&line, got.ptr, 1);
            tcp_actor_list_u8_free(&got);
        }
    }
    free(line.ptr);
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}

#endif
