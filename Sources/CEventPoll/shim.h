// epoll and eventfd for the wirenet command's kernel-socket reactor: Swift's Glibc module does not
// export <sys/epoll.h> or <sys/eventfd.h>. Headers only, no code.
#include <sys/epoll.h>
#include <sys/eventfd.h>
