// The simulation bridge of `egru serve-sim`: the Verilated UART top (hw/top.py) with its two
// pins carried over TCP. Bytes a client sends are driven onto `rx` as 8N1 frames, bit by bit, at
// the build's divisor; `tx` is sampled in the middle of every bit and the bytes go back to the
// client. So the host driver talks to exactly the pins a board would have.
//
// The clock runs while anything is in flight and stops (the process blocks on its sockets)
// while the design reports `quiet` and no bit is on either wire, so an idle simulation costs
// no CPU and timeouts inside the design (a truncated frame) still elapse in simulated time.
//
// Usage: egru_bridge --divisor D [--port P]   (prints "PORT <n>" once it listens on 127.0.0.1)

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>

#include "Vegru_top.h"
#include "verilated.h"

namespace {

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "egru_bridge: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // never reachable from another machine
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die("bind");
    if (listen(fd, 1) < 0) die("listen");
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("PORT %d\n", ntohs(addr.sin_port));
    std::fflush(stdout);
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    long divisor = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--port")) port = std::atoi(argv[i + 1]);
        else if (!std::strcmp(argv[i], "--divisor")) divisor = std::atol(argv[i + 1]);
    }
    if (divisor < 4 || port < 0 || port > 65535) {
        std::fprintf(stderr, "usage: egru_bridge --divisor D (>= 4) [--port P]\n");
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGTERM);  // never outlive the `egru serve-sim` that started us
    signal(SIGPIPE, SIG_IGN);

    const std::unique_ptr<VerilatedContext> context{new VerilatedContext};
    const std::unique_ptr<Vegru_top> top{new Vegru_top{context.get()}};
    uint64_t cycle = 0;
    auto tick = [&] {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
        ++cycle;
    };
    top->rx = 1;
    top->rst = 1;
    for (int i = 0; i < 4; ++i) tick();
    top->rst = 0;

    int server = listen_on(port);
    int client = -1;
    std::deque<uint8_t> to_rx;  // bytes from the client, not yet on the wire
    std::string from_tx;        // bytes from the wire, not yet sent to the client

    // rx: the frame being driven (start bit, 8 data bits LSB first, stop bit)
    int rx_bit = -1;
    long rx_timer = 0;
    uint16_t rx_frame = 0;
    long guard = 0;  // cycles to keep clocking after a byte, until the receiver has taken it
    // tx: a frame being sampled
    bool tx_busy = false;
    int tx_bit = 0;
    uint64_t tx_next = 0;
    uint8_t tx_byte = 0;
    uint8_t tx_prev = 1;

    auto flush = [&] {
        while (client >= 0 && !from_tx.empty()) {
            ssize_t n = send(client, from_tx.data(), from_tx.size(), MSG_DONTWAIT);
            if (n > 0) {
                from_tx.erase(0, static_cast<size_t>(n));
            } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                return;
            } else {
                close(client);
                client = -1;
                from_tx.clear();
            }
        }
    };
    auto service = [&](int timeout_ms) {
        pollfd fds[2] = {{server, POLLIN, 0}, {client, POLLIN, 0}};
        int n = poll(fds, client >= 0 ? 2 : 1, timeout_ms);
        if (n < 0 && errno != EINTR) die("poll");
        if (n <= 0) return;
        if (fds[0].revents & POLLIN) {  // a new client replaces the old one; the design keeps its state
            int c = accept(server, nullptr, nullptr);
            if (c >= 0) {
                if (client >= 0) close(client);
                client = c;
                to_rx.clear();  // nothing of an earlier client's reaches the design after this one
                int one = 1;
                setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                from_tx.clear();
            }
        }
        if (client >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            uint8_t buf[8192];
            ssize_t r = recv(client, buf, sizeof buf, MSG_DONTWAIT);
            if (r > 0) {
                to_rx.insert(to_rx.end(), buf, buf + r);
            } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                close(client);
                client = -1;
                to_rx.clear();  // the client is gone: its unsent requests die with it
            }
        }
    };

    for (;;) {
        bool busy = !to_rx.empty() || rx_bit >= 0 || guard > 0 || tx_busy || !top->quiet;
        if (!busy) {
            flush();
            service(from_tx.empty() ? 200 : 1);
            continue;
        }
        if ((cycle & 255) == 0) {
            flush();
            service(0);
        }
        // drive rx
        if (rx_bit < 0 && !to_rx.empty()) {
            rx_frame = static_cast<uint16_t>((to_rx.front() << 1) | (1u << 9));
            to_rx.pop_front();
            rx_bit = 0;
            rx_timer = divisor;
        }
        if (rx_bit >= 0) {
            top->rx = (rx_frame >> rx_bit) & 1;
            if (--rx_timer == 0) {
                rx_timer = divisor;
                if (++rx_bit == 10) {
                    rx_bit = -1;
                    guard = 2 * divisor + 8;
                }
            }
        } else {
            top->rx = 1;
            if (guard > 0) --guard;
        }
        tick();
        // sample tx: a falling edge starts a frame; bits are read in their middle
        uint8_t tx = top->tx & 1;
        if (!tx_busy) {
            if (tx_prev && !tx) {
                tx_busy = true;
                tx_bit = 0;
                tx_byte = 0;
                tx_next = cycle + divisor / 2 + divisor;
            }
        } else if (cycle == tx_next) {
            if (tx_bit < 8) {
                tx_byte |= static_cast<uint8_t>(tx << tx_bit);
                ++tx_bit;
                tx_next += divisor;
            } else {
                if (tx) from_tx.push_back(static_cast<char>(tx_byte));  // stop bit high: a byte
                tx_busy = false;
            }
        }
        tx_prev = tx;
    }
}
