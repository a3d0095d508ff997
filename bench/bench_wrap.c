/* SPDX-License-Identifier: MIT */
/* bench_wrap.c - counts what libcaresync sends and receives: the benchmarks that link it are
 * built with -Wl,--wrap=curl_easy_perform, so every request the library makes passes through
 * here. HTTP sizes come from libcurl; wire sizes (TLS records included) from the kernel's
 * TCP_INFO byte counters of the connection's socket. */
#include <curl/curl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "bench.h"

CURLcode __real_curl_easy_perform(CURL *h);
CURLcode __wrap_curl_easy_perform(CURL *h);

static struct bench_traffic total;
/* The last TCP counters seen per socket, to count deltas over a kept-alive connection. */
static struct {
    int fd;
    uint64_t up, down;
} sockets[64];

static void tcp_counters(int fd, uint64_t *up, uint64_t *down)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    *up = *down = 0;
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
        *up = ti.tcpi_bytes_acked;
        *down = ti.tcpi_bytes_received;
    }
}

CURLcode __wrap_curl_easy_perform(CURL *h)
{
    curl_off_t up = 0, down = 0;
    long hdr = 0, req = 0, connects = 0;
    curl_socket_t fd = CURL_SOCKET_BAD;
    CURLcode rc = __real_curl_easy_perform(h);

    (void)curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &up);
    (void)curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &down);
    (void)curl_easy_getinfo(h, CURLINFO_HEADER_SIZE, &hdr);
    (void)curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &req);
    (void)curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
    (void)curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd);
    total.requests++;
    total.connects += (uint64_t)connects;
    total.http_up += (uint64_t)req + (uint64_t)up;
    total.http_down += (uint64_t)hdr + (uint64_t)down;
    if (fd != CURL_SOCKET_BAD) {
        uint64_t tu, td;
        size_t i, free_slot = ELEMENTSOF(sockets);

        tcp_counters(fd, &tu, &td);
        for (i = 0; i < ELEMENTSOF(sockets); i++) {
            if (sockets[i].fd == fd + 1)
                break;
            if (sockets[i].fd == 0 && free_slot == ELEMENTSOF(sockets))
                free_slot = i;
        }
        if (i == ELEMENTSOF(sockets) || connects > 0 || tu < sockets[i].up ||
            td < sockets[i].down) {
            /* A new connection on this descriptor: its counters start at zero. */
            if (i == ELEMENTSOF(sockets))
                i = free_slot < ELEMENTSOF(sockets) ? free_slot : 0;
            sockets[i].fd = fd + 1;
            sockets[i].up = sockets[i].down = 0;
        }
        total.tcp_up += tu - sockets[i].up;
        total.tcp_down += td - sockets[i].down;
        sockets[i].up = tu;
        sockets[i].down = td;
    }
    return rc;
}

void bench_traffic_get(struct bench_traffic *ret)
{
    *ret = total;
}

void bench_traffic_diff(const struct bench_traffic *a, const struct bench_traffic *b,
                        struct bench_traffic *ret)
{
    ret->requests = b->requests - a->requests;
    ret->connects = b->connects - a->connects;
    ret->http_up = b->http_up - a->http_up;
    ret->http_down = b->http_down - a->http_down;
    ret->tcp_up = b->tcp_up - a->tcp_up;
    ret->tcp_down = b->tcp_down - a->tcp_down;
}
