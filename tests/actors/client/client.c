// A client that connects out. It listens like a server for one reason: to be told where to go.
// On each pushed control connection it reads one line, "ADDRESS\n", connects there with
// `connect`, sends "hello from wasm\n", reads the one-line reply, logs it with `runtime.log`,
// reports "got: REPLY" on the control connection, and closes both connections.
#include "actor.h"

INIT_KEEPS_STATE

// Connects to `address`, says hello and reads the reply line into `reply`.
static bool visit(const char *address, char *reply, size_t cap, string_t *err) {
    string_t conn;
    if (!theater_simple_tcp_connect(STR(address), &conn, err)) {
        return false;
    }
    bool ok = send_text(&conn, "hello from wasm\n", err) &&
              receive_line(&conn, reply, cap, err) >= 0;
    if (ok) {
        ok = theater_simple_tcp_close(&conn, err);
    }
    tcp_actor_string_free(&conn);
    return ok;
}

bool exports_theater_simple_tcp_client_handle_connection(bytes_t *state,
                                                         tcp_actor_tuple1_string_t *params,
                                                         state_out_t *out, string_t *err) {
    string_t *control = &params->f0;
    char address[256], reply[512];
    bool ok = theater_simple_tcp_activate(control, err) &&
              receive_line(control, address, sizeof address, err) > 0;
    if (ok) {
        address[strcspn(address, "\r\n")] = 0;
        ok = visit(address, reply, sizeof reply, err);
    }
    if (ok) {
        reply[strcspn(reply, "\r\n")] = 0;
        text_t line = {0};
        text_add(&line, "client: ");
        text_add(&line, address);
        text_add(&line, " answered: ");
        text_add(&line, reply);
        log_text(line.buf);
        text_t report = {0};
        text_add(&report, "got: ");
        text_add(&report, reply);
        text_add(&report, "\n");
        ok = send_text(control, report.buf, err) && theater_simple_tcp_close(control, err);
    }
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}
