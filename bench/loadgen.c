/*
 * loadgen.c: single-threaded epoll WebSocket load generator for the leadcast benchmark.
 *
 * Theory of operation
 * -------------------
 * 1. Connect phase. Open --clients WebSocket connections to 127.0.0.1 (at most
 *    --connect-concurrency handshakes in progress at once). In "pusher" mode each client waits
 *    for pusher:connection_established, sends pusher:subscribe and waits for
 *    pusher_internal:subscription_succeeded. In "bare" mode each client sends "sub <channel>"
 *    and waits for the server's "ok".
 * 2. Publisher phase. Open --pub-conns publisher connections: keep-alive HTTP/1.1 connections
 *    in pusher mode, WebSocket connections that announce themselves with "publisher" in bare
 *    mode.
 * 3. Publishing. Records come pre-built from --requests (a file of "<length>\n<bytes>" records
 *    written by the Python runner: signed HTTP requests in pusher mode, message texts in bare
 *    mode). Record r carries "seq=r;" inside its event data, so a record is a "slot": it is sent
 *    again (the signature stays valid) once its previous use has completed, and the slot maps
 *    back to the sequence number last sent with it. Publishing is closed-loop (--inflight events
 *    not yet fully delivered) or open-loop (--rate events per second). An HTTP connection carries
 *    one request at a time (no pipelining).
 * 4. Receiving. Every text frame is searched for "seq="; the slot's receive counter goes up and
 *    receive time minus the slot's send time goes into a 10 us latency histogram. An event is
 *    complete when it has reached --expect subscribers (all clients for one shared channel, 1
 *    with --channel-per-client), or times out after --event-timeout seconds.
 *
 * Results go to stdout as one JSON object; diagnostics go to stderr. In --idle mode it prints
 * "READY {...}" once every client is subscribed and holds the connections until stdin closes (or
 * a line arrives) or --hold seconds pass. Every phase is bounded in time.
 *
 * Build: gcc -O2 -Wall -o loadgen loadgen.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF_SIZE (1 << 20)
#define HIST_BUCKET_NS 10000LL /* 10 us */
#define HIST_BUCKETS 1000000   /* 10 s */
#define MAX_EVENTS 1024
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define MAX_FRAME ((uint64_t)64 << 20)

enum mode { MODE_PUSHER, MODE_BARE };
enum kind { K_SUB, K_WSPUB, K_HTTPPUB };
enum cstate { C_CONNECTING, C_HANDSHAKE, C_WAIT_ESTABLISHED, C_WAIT_SUBSCRIBED, C_READY, C_CLOSED };
enum sstate { S_FREE, S_INFLIGHT, S_DONE, S_TIMEDOUT };

struct buf {
    char *p;
    size_t len, cap;
};

struct conn {
    int fd;
    int idx;
    uint8_t kind, state, busy, want_out;
    int reconnects;
    struct buf in, out, frag;
    uint64_t received;
};

struct slot {
    int64_t seq;
    int64_t t_send;
    uint32_t recv, expected;
    uint8_t state, measured;
};

struct fifo_entry {
    uint32_t slot;
    int64_t seq;
};

struct record {
    char *p;
    size_t len;
};

/* ---- options ---- */
static const char *o_host = "127.0.0.1";
static int o_port = 0;
static int o_mode = MODE_PUSHER;
static const char *o_path = "/app/bench-key?protocol=7&client=loadgen&version=1.0";
static int o_clients = 100;
static const char *o_channel = "bench";
static int o_per_client = 0;
static const char *o_requests = NULL;
static int o_pub_conns = 1;
static int o_inflight = 1;
static double o_rate = 0;
static long o_events = 100;
static long o_warmup = 0;
static double o_duration = 10;
static double o_drain = 10;
static double o_event_timeout = 5;
static int o_connect_conc = 128;
static double o_connect_timeout = 60;
static int o_idle = 0;
static double o_hold = 60;
static double o_max_time = 300;
static int o_verbose = 0;

/* ---- state ---- */
static int ep;
static struct conn *conns;
static int nconns, nsubs;
static struct record *records;
static size_t nrecords;
static struct slot *slots;
static struct fifo_entry *fifo;
static size_t fifo_cap, fifo_head, fifo_tail;
static char *rbuf;
static uint32_t *lat_hist, *fan_hist;
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static int window_opened; /* an event completed: publish the next one without delay */

static struct {
    int64_t t0, t_connected, t_start, t_end, t_last_delivery;
    long opened, ready, lost, connect_failures, handshake_failures, pusher_errors;
    long server_closes, first_close_code, conn_errors;
    long published, measured_published, completed, timed_out, inflight;
    uint64_t deliveries, missing, duplicates, misrouted, stale, other_frames, binary_frames;
    uint64_t rx_bytes, frames, pings, late_sends;
    long http_ok, http_errors, http_lost, first_http_status;
    int64_t lat_max, fan_max;
    double lat_sum, fan_sum;
    uint64_t fan_count;
    char first_error[512];
    char first_other[256];
    const char *aborted;
} st;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "loadgen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void note_error(const char *fmt, ...) {
    if (st.first_error[0]) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st.first_error, sizeof st.first_error, fmt, ap);
    va_end(ap);
    fprintf(stderr, "loadgen: first error: %s\n", st.first_error);
}

static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q && n) die("out of memory");
    return q;
}

static void buf_append(struct buf *b, const char *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void buf_consume(struct buf *b, size_t n) {
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

static void buf_free(struct buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static uint32_t rng32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)rng_state;
}

/* Build a masked client frame (FIN set) into out. */
static void ws_frame(struct buf *out, int opcode, const char *payload, size_t n) {
    unsigned char hdr[14];
    size_t hl = 0;
    hdr[hl++] = 0x80 | (unsigned char)opcode;
    if (n < 126) {
        hdr[hl++] = 0x80 | (unsigned char)n;
    } else if (n < 65536) {
        hdr[hl++] = 0x80 | 126;
        hdr[hl++] = (unsigned char)(n >> 8);
        hdr[hl++] = (unsigned char)n;
    } else {
        hdr[hl++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) hdr[hl++] = (unsigned char)((uint64_t)n >> (8 * i));
    }
    uint32_t key = rng32();
    unsigned char mask[4];
    memcpy(mask, &key, 4);
    memcpy(hdr + hl, mask, 4);
    hl += 4;
    buf_append(out, (const char *)hdr, hl);
    size_t start = out->len;
    buf_append(out, payload, n);
    unsigned char *q = (unsigned char *)out->p + start;
    for (size_t i = 0; i < n; i++) q[i] ^= mask[i & 3];
}

/* ---- connection plumbing ---- */

static void conn_close(struct conn *c) {
    if (c->kind == K_SUB && c->state != C_CLOSED) {
        if (c->state == C_READY) st.lost++;
        else st.connect_failures++;
    }
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_CLOSED;
    buf_free(&c->in);
    buf_free(&c->out);
    buf_free(&c->frag);
}

static void set_events(struct conn *c, int want_out) {
    if (c->want_out == want_out) return;
    struct epoll_event ev = {.events = EPOLLIN | (want_out ? EPOLLOUT : 0),
                             .data.u32 = (uint32_t)(c - conns)};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = (uint8_t)want_out;
}

static int flush_out(struct conn *c) {
    while (c->out.len) {
        ssize_t n = send(c->fd, c->out.p, c->out.len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            return -1;
        }
        buf_consume(&c->out, (size_t)n);
    }
    set_events(c, c->out.len > 0);
    return 0;
}

static void send_bytes(struct conn *c, const char *p, size_t n) {
    if (c->fd < 0) return;
    if (c->out.len == 0) {
        while (n) {
            ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
            if (w < 0) {
                if (errno == EINTR) continue;
                if (errno == EAGAIN || errno == EWOULDBLOCK) break;
                st.conn_errors++;
                note_error("send on connection %d: %s", c->idx, strerror(errno));
                conn_close(c);
                return;
            }
            p += w;
            n -= (size_t)w;
        }
        if (!n) return;
    }
    buf_append(&c->out, p, n);
    set_events(c, 1);
}

static void send_text(struct conn *c, const char *text, size_t n) {
    struct buf f = {0};
    ws_frame(&f, 1, text, n);
    send_bytes(c, f.p, f.len);
    buf_free(&f);
}

static void conn_open(struct conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s (raise ulimit -n)", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o_port)};
    if (inet_pton(AF_INET, o_host, &sa.sin_addr) != 1) die("bad host %s", o_host);
    c->fd = fd;
    c->state = C_CONNECTING;
    c->busy = 0;
    c->want_out = 1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS)
        die("connect: %s", strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)(c - conns)};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    st.opened++;
}

static void send_handshake(struct conn *c) {
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n\r\n",
                     o_path, o_host, o_port);
    c->state = C_HANDSHAKE;
    send_bytes(c, req, (size_t)n);
}

static void channel_name(char *out, size_t cap, int idx) {
    if (o_per_client)
        snprintf(out, cap, "%s-%d", o_channel, idx);
    else
        snprintf(out, cap, "%s", o_channel);
}

static void subscribe(struct conn *c) {
    char ch[256], msg[512];
    channel_name(ch, sizeof ch, c->idx);
    int n;
    if (o_mode == MODE_PUSHER)
        n = snprintf(msg, sizeof msg,
                     "{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"%s\"}}", ch);
    else
        n = snprintf(msg, sizeof msg, "sub %s", ch);
    c->state = C_WAIT_SUBSCRIBED;
    send_text(c, msg, (size_t)n);
}

static void became_ready(struct conn *c) {
    c->state = C_READY;
    if (c->kind == K_SUB) st.ready++;
}

static void fail_conn(struct conn *c, const char *why) {
    note_error("connection %d: %s", c->idx, why);
    conn_close(c);
}

/* ---- events and slots ---- */

static void hist_add(uint32_t *h, int64_t ns) {
    int64_t b = ns / HIST_BUCKET_NS;
    if (b < 0) b = 0;
    if (b >= HIST_BUCKETS) b = HIST_BUCKETS - 1;
    h[b]++;
}

static void finish_slot(struct slot *s, int64_t now, int timed_out) {
    st.inflight--;
    if (timed_out) {
        s->state = S_TIMEDOUT;
        if (s->measured) {
            st.timed_out++;
            st.missing += s->expected - (s->recv < s->expected ? s->recv : s->expected);
        }
        return;
    }
    s->state = S_DONE;
    if (s->measured) {
        int64_t d = now - s->t_send;
        st.completed++;
        hist_add(fan_hist, d);
        st.fan_sum += (double)d;
        st.fan_count++;
        if (d > st.fan_max) st.fan_max = d;
    }
}

static void on_delivery(struct conn *c, const char *p, size_t n, const char *at, int64_t now) {
    const char *q = at + 4, *end = p + n;
    uint64_t v = 0;
    int digits = 0;
    while (q < end && *q >= '0' && *q <= '9' && digits < 12) v = v * 10 + (uint64_t)(*q++ - '0'), digits++;
    if (!digits || v >= nrecords) {
        st.other_frames++;
        return;
    }
    struct slot *s = &slots[v];
    if (s->state == S_FREE || s->state == S_TIMEDOUT) {
        st.stale++;
        return;
    }
    if (o_per_client) {
        const char *t = memmem(q, (size_t)(end - q), "to=", 3);
        if (!t || atoi(t + 3) != c->idx) st.misrouted++;
    }
    s->recv++;
    if (s->recv > s->expected) {
        st.duplicates++;
        return;
    }
    if (s->measured) {
        int64_t d = now - s->t_send;
        st.deliveries++;
        c->received++;
        hist_add(lat_hist, d);
        st.lat_sum += (double)d;
        if (d > st.lat_max) st.lat_max = d;
        st.t_last_delivery = now;
    }
    if (s->recv == s->expected && s->state == S_INFLIGHT) {
        finish_slot(s, now, 0);
        window_opened = 1;
    }
}

static void handle_message(struct conn *c, const char *p, size_t n, int64_t now) {
    switch (c->state) {
    case C_WAIT_ESTABLISHED:
        if (memmem(p, n, "pusher:connection_established", 29)) {
            if (c->kind == K_SUB) subscribe(c);
            else became_ready(c);
        } else {
            st.pusher_errors++;
            note_error("expected connection_established, got: %.*s", (int)(n > 200 ? 200 : n), p);
        }
        return;
    case C_WAIT_SUBSCRIBED:
        if (o_mode == MODE_BARE || memmem(p, n, "subscription_succeeded", 22)) {
            became_ready(c);
        } else {
            st.pusher_errors++;
            note_error("expected subscription_succeeded, got: %.*s", (int)(n > 200 ? 200 : n), p);
        }
        return;
    case C_READY:
        break;
    default:
        return;
    }
    if (c->kind != K_SUB) return;
    const char *at = memmem(p, n, "seq=", 4);
    if (at) {
        on_delivery(c, p, n, at, now);
        return;
    }
    if (o_mode == MODE_PUSHER && memmem(p, n, "pusher:ping", 11)) {
        static const char pong[] = "{\"event\":\"pusher:pong\",\"data\":{}}";
        st.pings++;
        send_text(c, pong, sizeof pong - 1);
        return;
    }
    st.other_frames++;
    if (!st.first_other[0]) {
        snprintf(st.first_other, sizeof st.first_other, "%.*s", (int)(n > 200 ? 200 : n), p);
        fprintf(stderr, "loadgen: unexpected frame: %s\n", st.first_other);
    }
}

/* Parse WebSocket frames; returns bytes consumed, or -1 when the connection was closed. */
static ssize_t parse_frames(struct conn *c, char *p, size_t len, int64_t now) {
    size_t off = 0;
    while (len - off >= 2) {
        unsigned char b0 = (unsigned char)p[off], b1 = (unsigned char)p[off + 1];
        int fin = b0 & 0x80, op = b0 & 0x0f, masked = b1 & 0x80;
        uint64_t plen = b1 & 0x7f;
        size_t hl = 2;
        if (plen == 126) {
            if (len - off < 4) break;
            plen = ((uint64_t)(unsigned char)p[off + 2] << 8) | (unsigned char)p[off + 3];
            hl = 4;
        } else if (plen == 127) {
            if (len - off < 10) break;
            plen = 0;
            for (int i = 0; i < 8; i++) plen = (plen << 8) | (unsigned char)p[off + 2 + i];
            hl = 10;
        }
        if (plen > MAX_FRAME) {
            fail_conn(c, "frame too large");
            return -1;
        }
        if (masked) hl += 4;
        if (len - off < hl + plen) break;
        char *pl = p + off + hl;
        if (masked) {
            const unsigned char *mk = (unsigned char *)p + off + hl - 4;
            for (uint64_t i = 0; i < plen; i++) pl[i] ^= (char)mk[i & 3];
            st.conn_errors++;
            note_error("server sent a masked frame");
        }
        st.frames++;
        off += hl + plen;
        switch (op) {
        case 0x1:
        case 0x0:
            if (fin && op == 0x1 && c->frag.len == 0) {
                handle_message(c, pl, plen, now);
            } else {
                buf_append(&c->frag, pl, plen);
                if (fin) {
                    handle_message(c, c->frag.p, c->frag.len, now);
                    c->frag.len = 0;
                }
            }
            break;
        case 0x2:
            st.binary_frames++;
            break;
        case 0x8: {
            int code = plen >= 2 ? (((unsigned char)pl[0] << 8) | (unsigned char)pl[1]) : 1005;
            st.server_closes++;
            if (!st.first_close_code) st.first_close_code = code;
            char why[300];
            snprintf(why, sizeof why, "server closed with %d %.*s", code,
                     (int)(plen > 2 ? (plen > 200 ? 198 : plen - 2) : 0), pl + 2);
            note_error("connection %d: %s", c->idx, why);
            conn_close(c);
            return -1;
        }
        case 0x9: {
            struct buf f = {0};
            ws_frame(&f, 0xA, pl, plen);
            send_bytes(c, f.p, f.len);
            buf_free(&f);
            st.pings++;
            break;
        }
        default:
            break;
        }
        if (c->fd < 0) return -1;
    }
    return (ssize_t)off;
}

static ssize_t parse_handshake(struct conn *c, char *p, size_t len) {
    char *end = memmem(p, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > 16384) {
            st.handshake_failures++;
            fail_conn(c, "handshake response too long");
            return -1;
        }
        return 0;
    }
    size_t hlen = (size_t)(end - p) + 4;
    if (len < 12 || memcmp(p, "HTTP/1.1 101", 12) != 0 || !memmem(p, hlen, WS_ACCEPT, 28)) {
        char why[300];
        snprintf(why, sizeof why, "handshake refused: %.*s", (int)(hlen > 200 ? 200 : hlen), p);
        st.handshake_failures++;
        fail_conn(c, why);
        return -1;
    }
    if (o_mode == MODE_PUSHER) {
        c->state = C_WAIT_ESTABLISHED;
    } else if (c->kind == K_SUB) {
        subscribe(c);
    } else {
        c->state = C_WAIT_SUBSCRIBED;
        send_text(c, "publisher", 9);
    }
    return (ssize_t)hlen;
}

/* Parse HTTP responses on a publisher connection; returns bytes consumed. */
static ssize_t parse_http(struct conn *c, char *p, size_t len) {
    size_t off = 0;
    while (off < len) {
        char *hp = p + off;
        size_t avail = len - off;
        char *end = memmem(hp, avail, "\r\n\r\n", 4);
        if (!end) break;
        size_t hlen = (size_t)(end - hp) + 4;
        long status = avail > 12 ? strtol(hp + 9, NULL, 10) : 0;
        long clen = -1;
        int chunked = 0;
        for (char *l = memmem(hp, hlen, "\r\n", 2); l && l < end; l = memmem(l + 2, (size_t)(end - l), "\r\n", 2)) {
            char *h = l + 2;
            if (!strncasecmp(h, "content-length:", 15)) clen = strtol(h + 15, NULL, 10);
            else if (!strncasecmp(h, "transfer-encoding:", 18) && memmem(h, (size_t)(end - h) < 64 ? (size_t)(end - h) : 64, "chunked", 7))
                chunked = 1;
        }
        size_t total;
        if (clen >= 0) {
            if (avail < hlen + (size_t)clen) break;
            total = hlen + (size_t)clen;
        } else if (chunked) {
            char *z = memmem(hp + hlen, avail - hlen, "0\r\n\r\n", 5);
            if (!z) break;
            total = (size_t)(z - hp) + 5;
        } else {
            total = hlen;
        }
        if (status >= 200 && status < 300) {
            st.http_ok++;
        } else {
            st.http_errors++;
            if (!st.first_http_status) st.first_http_status = status;
            note_error("HTTP publish answered: %.*s", (int)(total > 300 ? 300 : total), hp);
        }
        c->busy = 0;
        off += total;
    }
    return (ssize_t)off;
}

static void on_readable(struct conn *c, int64_t *now) {
    for (int round = 0; round < 4 && c->fd >= 0; round++) {
        ssize_t n = recv(c->fd, rbuf, RBUF_SIZE, 0);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            st.conn_errors++;
            note_error("recv on connection %d: %s", c->idx, strerror(errno));
            if (c->kind == K_HTTPPUB && c->busy) st.http_lost++;
            conn_close(c);
            return;
        }
        *now = now_ns();
        if (n == 0) {
            if (c->kind == K_HTTPPUB && c->state == C_READY && c->reconnects < 100) {
                /* The server closed a keep-alive connection: open a new one. */
                if (c->busy) st.http_lost++;
                conn_close(c);
                c->reconnects++;
                conn_open(c);
                return;
            }
            st.conn_errors++;
            note_error("connection %d closed by the server (state %d)", c->idx, c->state);
            conn_close(c);
            return;
        }
        st.rx_bytes += (uint64_t)n;
        char *data = rbuf;
        size_t len = (size_t)n;
        if (c->in.len) {
            buf_append(&c->in, rbuf, len);
            data = c->in.p;
            len = c->in.len;
        }
        size_t off = 0;
        while (off < len && c->fd >= 0) {
            ssize_t used;
            if (c->kind == K_HTTPPUB)
                used = parse_http(c, data + off, len - off);
            else if (c->state == C_HANDSHAKE)
                used = parse_handshake(c, data + off, len - off);
            else
                used = parse_frames(c, data + off, len - off, *now);
            if (used <= 0) break;
            off += (size_t)used;
        }
        if (c->fd < 0) return;
        if (data == c->in.p) {
            buf_consume(&c->in, off);
        } else if (off < len) {
            buf_append(&c->in, data + off, len - off);
        }
        if (n < RBUF_SIZE) return;
    }
}

static void on_writable(struct conn *c) {
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
        if (err) {
            char why[128];
            snprintf(why, sizeof why, "connect: %s", strerror(err));
            fail_conn(c, why);
            return;
        }
        if (c->kind == K_HTTPPUB) {
            c->state = C_READY;
            set_events(c, 0);
        } else {
            send_handshake(c);
            if (c->fd >= 0 && !c->out.len) set_events(c, 0);
        }
        return;
    }
    if (flush_out(c) < 0) {
        st.conn_errors++;
        note_error("send on connection %d: %s", c->idx, strerror(errno));
        conn_close(c);
    }
}

/* ---- records ---- */

static void load_records(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1024;
    records = xrealloc(NULL, cap * sizeof *records);
    char line[64];
    while (fgets(line, sizeof line, f)) {
        char *e;
        long n = strtol(line, &e, 10);
        if (e == line || n <= 0 || n > (1 << 24)) die("bad record header in %s", path);
        char *p = xrealloc(NULL, (size_t)n);
        if (fread(p, 1, (size_t)n, f) != (size_t)n) die("short record in %s", path);
        if (nrecords == cap) {
            cap *= 2;
            records = xrealloc(records, cap * sizeof *records);
        }
        records[nrecords].p = p;
        records[nrecords].len = (size_t)n;
        nrecords++;
    }
    fclose(f);
    if (!nrecords) die("no records in %s", path);
    if (o_mode == MODE_BARE) {
        for (size_t i = 0; i < nrecords; i++) {
            struct buf b = {0};
            ws_frame(&b, 1, records[i].p, records[i].len);
            free(records[i].p);
            records[i].p = b.p;
            records[i].len = b.len;
        }
    }
}

/* ---- publishing ---- */

static int pub_rr;
static size_t next_slot;
static int64_t next_send;
static int publishing_done;

static struct conn *free_publisher(void) {
    int np = nconns - nsubs;
    for (int k = 0; k < np; k++) {
        struct conn *c = &conns[nsubs + (pub_rr + k) % np];
        if (c->state == C_READY && !c->busy) {
            pub_rr = (pub_rr + k + 1) % np;
            return c;
        }
    }
    return NULL;
}

static void try_publish(int64_t now) {
    int expect = o_per_client ? 1 : (int)(st.ready - st.lost);
    while (!publishing_done) {
        long limit = o_rate > 0 ? (o_inflight > 0 ? o_inflight : 1000000) : o_inflight;
        if (st.inflight >= limit) return;
        /* Warm-up events must all complete before the measured phase starts. */
        if (st.published == o_warmup && st.inflight > 0) return;
        if (o_rate > 0 && now < next_send) return;
        if ((fifo_tail + 1) % fifo_cap == fifo_head) return;
        struct slot *s = &slots[next_slot];
        if (s->state == S_INFLIGHT) return;
        struct conn *c = free_publisher();
        if (!c) return;
        int measured = st.published >= o_warmup;
        if (measured && st.measured_published == 0) {
            st.t_start = now;
            if (o_rate > 0) next_send = now;
        }
        s->seq = st.published++;
        s->t_send = now;
        s->recv = 0;
        s->expected = (uint32_t)expect;
        s->state = S_INFLIGHT;
        s->measured = (uint8_t)measured;
        st.inflight++;
        fifo[fifo_tail].slot = (uint32_t)next_slot;
        fifo[fifo_tail].seq = s->seq;
        fifo_tail = (fifo_tail + 1) % fifo_cap;
        if (c->kind == K_HTTPPUB) c->busy = 1;
        send_bytes(c, records[next_slot].p, records[next_slot].len);
        next_slot = (next_slot + 1) % nrecords;
        if (measured) {
            st.measured_published++;
            if (o_rate > 0) {
                if (now - next_send > 1000000) st.late_sends++;
                next_send += (int64_t)(1e9 / o_rate);
            }
            if (st.measured_published >= o_events ||
                (double)(now - st.t_start) / 1e9 >= o_duration)
                publishing_done = 1;
        } else if (o_rate > 0) {
            next_send = now + (int64_t)(1e9 / o_rate);
        }
    }
}

static void expire_events(int64_t now) {
    while (fifo_head != fifo_tail) {
        struct fifo_entry *e = &fifo[fifo_head];
        struct slot *s = &slots[e->slot];
        if (s->seq == e->seq && s->state == S_INFLIGHT) {
            if ((double)(now - s->t_send) / 1e9 < o_event_timeout) return;
            finish_slot(s, now, 1);
            note_error("event %lld timed out with %u of %u deliveries", (long long)s->seq, s->recv,
                       s->expected);
        }
        fifo_head = (fifo_head + 1) % fifo_cap;
    }
}

/* ---- reporting ---- */

static double hist_pct(const uint32_t *h, uint64_t total, double q) {
    if (!total) return 0;
    uint64_t want = (uint64_t)(q * (double)total), acc = 0;
    if (want == 0) want = 1;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        acc += h[i];
        if (acc >= want) return ((double)i * HIST_BUCKET_NS + HIST_BUCKET_NS / 2.0) / 1e6;
    }
    return (double)HIST_BUCKETS * HIST_BUCKET_NS / 1e6;
}

static void json_str(const char *s) {
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') printf("\\%c", ch);
        else if (ch < 0x20) printf("\\u%04x", ch);
        else putchar(ch);
    }
    putchar('"');
}

static void print_dist(const char *name, const uint32_t *h, uint64_t total, double sum, int64_t max) {
    printf("\"%s\":{\"count\":%llu,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
           "\"p999\":%.3f,\"max\":%.3f}",
           name, (unsigned long long)total, total ? sum / (double)total / 1e6 : 0.0,
           hist_pct(h, total, 0.50), hist_pct(h, total, 0.90), hist_pct(h, total, 0.99),
           hist_pct(h, total, 0.999), (double)max / 1e6);
}

static void report(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    /* Events still in flight at the end count as missing deliveries. */
    for (size_t i = 0; i < nrecords; i++) {
        struct slot *s = &slots[i];
        if (s->state == S_INFLIGHT && s->measured) {
            st.missing += s->expected - (s->recv < s->expected ? s->recv : s->expected);
            st.timed_out++;
        }
    }
    double span = st.t_last_delivery > st.t_start ? (double)(st.t_last_delivery - st.t_start) / 1e9 : 0;
    printf("{\"mode\":\"%s\",\"clients\":%d,\"subscribed\":%ld,", o_mode == MODE_PUSHER ? "pusher" : "bare",
           o_clients, st.ready);
    printf("\"connect_s\":%.3f,\"connect_failures\":%ld,\"handshake_failures\":%ld,",
           st.t_connected ? (double)(st.t_connected - st.t0) / 1e9 : -1.0, st.connect_failures,
           st.handshake_failures);
    printf("\"published\":%ld,\"measured_events\":%ld,\"completed\":%ld,\"timed_out\":%ld,",
           st.published, st.measured_published, st.completed, st.timed_out);
    printf("\"deliveries\":%llu,\"missing\":%llu,\"duplicates\":%llu,\"misrouted\":%llu,"
           "\"stale\":%llu,\"other_frames\":%llu,\"binary_frames\":%llu,\"pings\":%llu,",
           (unsigned long long)st.deliveries, (unsigned long long)st.missing,
           (unsigned long long)st.duplicates, (unsigned long long)st.misrouted,
           (unsigned long long)st.stale, (unsigned long long)st.other_frames,
           (unsigned long long)st.binary_frames, (unsigned long long)st.pings);
    printf("\"lost\":%ld,\"server_closes\":%ld,\"first_close_code\":%ld,\"conn_errors\":%ld,\"pusher_errors\":%ld,",
           st.lost, st.server_closes, st.first_close_code, st.conn_errors, st.pusher_errors);
    printf("\"http_ok\":%ld,\"http_errors\":%ld,\"http_lost\":%ld,\"first_http_status\":%ld,",
           st.http_ok, st.http_errors, st.http_lost, st.first_http_status);
    long reconnects = 0;
    for (int i = nsubs; i < nconns; i++) reconnects += conns[i].reconnects;
    printf("\"http_reconnects\":%ld,", reconnects);
    printf("\"late_sends\":%llu,\"rx_bytes\":%llu,\"frames\":%llu,", (unsigned long long)st.late_sends,
           (unsigned long long)st.rx_bytes, (unsigned long long)st.frames);
    printf("\"duration_s\":%.4f,\"deliveries_per_s\":%.1f,\"events_per_s\":%.1f,", span,
           span > 0 ? (double)st.deliveries / span : 0.0,
           span > 0 ? (double)st.completed / span : 0.0);
    print_dist("latency_ms", lat_hist, st.deliveries, st.lat_sum, st.lat_max);
    putchar(',');
    print_dist("fanout_ms", fan_hist, st.fan_count, st.fan_sum, st.fan_max);
    printf(",\"cpu_user_s\":%.3f,\"cpu_sys_s\":%.3f,\"wall_s\":%.3f,",
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6,
           (double)(now_ns() - st.t0) / 1e9);
    printf("\"first_error\":");
    json_str(st.first_error);
    printf(",\"first_other_frame\":");
    json_str(st.first_other);
    printf(",\"aborted\":");
    if (st.aborted) json_str(st.aborted);
    else printf("null");
    printf("}\n");
    fflush(stdout);
}

/* ---- main ---- */

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --port P [--mode pusher|bare] [--path PATH] [--clients N]\n"
            "  [--channel NAME] [--channel-per-client] [--requests FILE] [--pub-conns P]\n"
            "  [--inflight W] [--rate R] [--events E] [--warmup K] [--duration S]\n"
            "  [--drain S] [--event-timeout S] [--connect-concurrency C] [--connect-timeout S]\n"
            "  [--idle] [--hold S] [--max-time S] [--verbose]\n");
    exit(2);
}

static void raise_nofile(long need) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur >= need) return;
    if ((long)rl.rlim_max < need) rl.rlim_max = (rlim_t)need;
    rl.rlim_cur = (rlim_t)need;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("cannot raise RLIMIT_NOFILE to %ld: %s", need, strerror(errno));
}

int main(int argc, char **argv) {
    static struct option opts[] = {
        {"host", 1, 0, 'h'},          {"port", 1, 0, 'p'},           {"mode", 1, 0, 'm'},
        {"path", 1, 0, 'P'},          {"clients", 1, 0, 'n'},        {"channel", 1, 0, 'c'},
        {"channel-per-client", 0, 0, 'C'}, {"requests", 1, 0, 'r'},  {"pub-conns", 1, 0, 'u'},
        {"inflight", 1, 0, 'i'},      {"rate", 1, 0, 'R'},           {"events", 1, 0, 'e'},
        {"warmup", 1, 0, 'w'},        {"duration", 1, 0, 'd'},       {"drain", 1, 0, 'D'},
        {"event-timeout", 1, 0, 'T'}, {"connect-concurrency", 1, 0, 'k'},
        {"connect-timeout", 1, 0, 'K'}, {"idle", 0, 0, 'I'},         {"hold", 1, 0, 'H'},
        {"max-time", 1, 0, 'M'},      {"verbose", 0, 0, 'v'},        {0, 0, 0, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'h': o_host = optarg; break;
        case 'p': o_port = atoi(optarg); break;
        case 'm':
            if (!strcmp(optarg, "pusher")) o_mode = MODE_PUSHER;
            else if (!strcmp(optarg, "bare")) o_mode = MODE_BARE;
            else usage();
            break;
        case 'P': o_path = optarg; break;
        case 'n': o_clients = atoi(optarg); break;
        case 'c': o_channel = optarg; break;
        case 'C': o_per_client = 1; break;
        case 'r': o_requests = optarg; break;
        case 'u': o_pub_conns = atoi(optarg); break;
        case 'i': o_inflight = atoi(optarg); break;
        case 'R': o_rate = atof(optarg); break;
        case 'e': o_events = atol(optarg); break;
        case 'w': o_warmup = atol(optarg); break;
        case 'd': o_duration = atof(optarg); break;
        case 'D': o_drain = atof(optarg); break;
        case 'T': o_event_timeout = atof(optarg); break;
        case 'k': o_connect_conc = atoi(optarg); break;
        case 'K': o_connect_timeout = atof(optarg); break;
        case 'I': o_idle = 1; break;
        case 'H': o_hold = atof(optarg); break;
        case 'M': o_max_time = atof(optarg); break;
        case 'v': o_verbose = 1; break;
        default: usage();
        }
    }
    if (o_port <= 0 || o_clients < 0 || o_pub_conns < 1 || o_connect_conc < 1) usage();
    if (!o_idle && !o_requests) die("--requests is needed unless --idle");
    if (!o_idle && o_rate <= 0 && o_inflight < 1) die("--inflight must be >= 1");
    signal(SIGPIPE, SIG_IGN);
    raise_nofile((long)o_clients + o_pub_conns + 64);

    if (!o_idle) load_records(o_requests);
    slots = calloc(nrecords ? nrecords : 1, sizeof *slots);
    fifo_cap = (size_t)1 << 20;
    fifo = calloc(fifo_cap, sizeof *fifo);
    rbuf = malloc(RBUF_SIZE);
    lat_hist = calloc(HIST_BUCKETS, sizeof *lat_hist);
    fan_hist = calloc(HIST_BUCKETS, sizeof *fan_hist);
    int npub = o_idle ? 0 : o_pub_conns;
    nsubs = o_clients;
    nconns = o_clients + npub;
    conns = calloc((size_t)nconns + 1, sizeof *conns);
    if (!slots || !fifo || !rbuf || !lat_hist || !fan_hist || !conns) die("out of memory");
    for (int i = 0; i < nconns; i++) {
        conns[i].fd = -1;
        conns[i].state = C_CLOSED;
        conns[i].idx = i < nsubs ? i : -(i - nsubs + 1);
        conns[i].kind = i < nsubs ? K_SUB : (o_mode == MODE_PUSHER ? K_HTTPPUB : K_WSPUB);
    }
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));
    fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);

    struct epoll_event evs[MAX_EVENTS];
    int64_t now = now_ns();
    st.t0 = now;
    int64_t deadline = now + (int64_t)(o_max_time * 1e9);
    int64_t connect_deadline = now + (int64_t)(o_connect_timeout * 1e9);
    int64_t last_progress = now, drain_deadline = 0, hold_deadline = 0;
    int next_open = 0, phase = 0; /* 0 subscribers, 1 publishers, 2 publishing, 3 drain, 4 hold */

    for (;;) {
        /* Phase transitions and opening connections. */
        if (phase == 0) {
            long pending = st.opened - st.ready - st.connect_failures;
            while (next_open < nsubs && pending < o_connect_conc) {
                conn_open(&conns[next_open++]);
                pending++;
            }
            if (st.ready + st.connect_failures >= nsubs) {
                st.t_connected = now;
                if (o_verbose || st.connect_failures)
                    fprintf(stderr, "loadgen: %ld clients subscribed in %.2f s (%ld failed)\n",
                            st.ready, (double)(now - st.t0) / 1e9, st.connect_failures);
                if (st.ready == 0 && nsubs > 0) {
                    st.aborted = "no client could subscribe";
                    break;
                }
                if (o_idle) {
                    printf("READY {\"subscribed\":%ld,\"connect_s\":%.3f}\n", st.ready,
                           (double)(now - st.t0) / 1e9);
                    fflush(stdout);
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)nconns};
                    if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev) < 0) o_hold = o_hold > 0 ? o_hold : 1;
                    hold_deadline = now + (int64_t)(o_hold * 1e9);
                    phase = 4;
                } else {
                    for (int i = nsubs; i < nconns; i++) conn_open(&conns[i]);
                    phase = 1;
                }
            } else if (now > connect_deadline) {
                st.aborted = "connect phase timed out";
                fprintf(stderr, "loadgen: connect timeout: %ld of %d subscribed\n", st.ready, nsubs);
                break;
            }
        }
        if (phase == 1) {
            int ok = 0, dead = 0;
            for (int i = nsubs; i < nconns; i++) {
                if (conns[i].state == C_READY) ok++;
                if (conns[i].fd < 0) dead++;
            }
            if (ok + dead == nconns - nsubs) {
                if (!ok) {
                    st.aborted = "no publisher connection";
                    break;
                }
                phase = 2;
                /* The runner samples CPU times when it sees these markers. */
                fprintf(stderr, "loadgen: publishing\n");
            } else if (now > connect_deadline + (int64_t)10e9) {
                st.aborted = "publisher connect timed out";
                break;
            }
        }
        if (phase == 2) {
            if (st.t_start && (double)(now - st.t_start) / 1e9 >= o_duration) publishing_done = 1;
            try_publish(now);
            expire_events(now);
            if (publishing_done) {
                phase = 3;
                drain_deadline = now + (int64_t)(o_drain * 1e9);
            } else if (st.t_start && (double)(now - st.t_start) / 1e9 > o_duration + o_event_timeout + 5) {
                /* Nothing can be published (e.g. every publisher connection is gone). */
                st.aborted = "publishing stalled";
                break;
            }
        }
        if (phase == 3) {
            expire_events(now);
            int busy = 0; /* HTTP responses still to come */
            for (int i = nsubs; i < nconns; i++) busy += conns[i].fd >= 0 && conns[i].busy;
            if ((st.inflight <= 0 && !busy) || now > drain_deadline) {
                if (st.inflight > 0) st.aborted = "drain timed out";
                else if (busy) note_error("%d HTTP responses missing at the end", busy);
                break;
            }
        }
        if (phase >= 1 && nsubs > 0 && st.lost >= st.ready) {
            st.aborted = "every client connection was lost";
            break;
        }
        if (phase == 4 && now > hold_deadline) break;
        if (now > deadline) {
            st.aborted = "max time reached";
            break;
        }
        if (o_verbose && now - last_progress > 2000000000LL) {
            last_progress = now;
            fprintf(stderr, "loadgen: phase %d ready %ld published %ld inflight %ld deliveries %llu\n",
                    phase, st.ready, st.published, st.inflight, (unsigned long long)st.deliveries);
        }

        int timeout = 50;
        if (phase == 2 && o_rate > 0) {
            int64_t wait = (next_send - now) / 1000000;
            timeout = wait < 0 ? 0 : (wait < 50 ? (int)wait : 50);
        }
        int n = epoll_wait(ep, evs, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) die("epoll_wait: %s", strerror(errno));
        now = now_ns();
        for (int i = 0; i < n; i++) {
            uint32_t id = evs[i].data.u32;
            if (id == (uint32_t)nconns) {
                hold_deadline = 0; /* a line or EOF on stdin ends the hold */
                epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
                continue;
            }
            struct conn *c = &conns[id];
            if (c->fd < 0) continue;
            if (evs[i].events & (EPOLLOUT | EPOLLERR)) on_writable(c);
            if (c->fd >= 0 && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c, &now);
            if (phase == 2 && (window_opened || c->kind != K_SUB)) {
                window_opened = 0;
                try_publish(now);
            }
        }
        if (phase == 2) try_publish(now);
    }
    fprintf(stderr, "loadgen: finished\n");
    report();
    return st.aborted ? 1 : 0;
}
