// A STARTTLS server that speaks just enough SMTP for `openssl s_client -starttls smtp`:
//
//   S: 220 ready            C: EHLO <name>
//   S: 250-theater          C: STARTTLS
//   S: 250 STARTTLS
//   S: 220 Go ahead         ... TLS handshake (upgrade-to-tls-server) ...
//
// then echoes over TLS until the peer ends the stream. The handler must be configured with
// server certificates and `server_tls.auto_handshake = false` (no implicit TLS on accept).
// Lines are read one byte at a time, so no byte after "STARTTLS\r\n" is taken off the
// connection before the upgrade; the host refuses the upgrade if any such plaintext is buffered.
#include "actor.h"

INIT_KEEPS_STATE

static bool starts_with(const char *line, const char *word) {
    return strncmp(line, word, strlen(word)) == 0;
}

// The plaintext dialogue; true once the client asked for STARTTLS and got "220 Go ahead".
static bool dialogue(string_t *conn, string_t *err) {
    char line[512];
    if (!send_text(conn, "220 ready\r\n", err)) {
        return false;
    }
    for (;;) {
        int n = receive_line(conn, line, sizeof line, err);
        if (n < 0) {
            return false;
        }
        if (n == 0) {
            tcp_actor_string_dup(err, "peer left before STARTTLS");
            return false;
        }
        if (starts_with(line, "EHLO") || starts_with(line, "HELO")) {
            if (!send_text(conn, "250-theater\r\n250 STARTTLS\r\n", err)) {
                return false;
            }
        } else if (starts_with(line, "STARTTLS")) {
            return send_text(conn, "220 Go ahead\r\n", err);
        } else if (!send_text(conn, "502 unknown command\r\n", err)) {
            return false;
        }
    }
}

bool exports_theater_simple_tcp_client_handle_connection(bytes_t *state,
                                                         tcp_actor_tuple1_string_t *params,
                                                         state_out_t *out, string_t *err) {
    string_t *conn = &params->f0;
    bool ok = theater_simple_tcp_activate(conn, err) && dialogue(conn, err) &&
              theater_simple_tcp_upgrade_to_tls_server(conn, err);
    if (ok) {
        log_text("starttls_server: upgraded to TLS");
    }
    // Echo over TLS until the peer ends the stream.
    while (ok) {
        bytes_t data;
        if (!theater_simple_tcp_receive(conn, 16384, &data, err)) {
            ok = false;
        } else if (data.len == 0) {
            ok = theater_simple_tcp_close(conn, err);
            break;
        } else {
            ok = send_bytes(conn, data.ptr, data.len, err);
            tcp_actor_list_u8_free(&data);
        }
    }
    tcp_actor_tuple1_string_free(params);
    keep_state(state, out);
    return ok;
}
