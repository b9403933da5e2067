// Package reuseport opens, passes on and inspects the listening TCP sockets
// that spread's workers share. It knows sockets, not processes or HTTP.
//
// The kernel behaviour it is built on:
//
//   - Sockets that set SO_REUSEPORT before bind, under the same effective
//     UID, form one group on an address; the kernel hashes the 4-tuple of
//     each new connection to pick one socket of the group (Linux commit
//     c617f398edd4). Any process of the same user can join a group silently,
//     which is why [Holders] exists.
//   - Every socket of a group has its own accept queue, and closing a
//     listener resets the connections still queued on it, unless
//     net.ipv4.tcp_migrate_req is 1 (see [MigrateReqEnabled]). A duplicated
//     descriptor keeps the socket and its queue alive, which is why a
//     supervisor that holds the sockets ([File]) and hands them to workers
//     ([FromFile]) loses nothing when a worker dies.
package reuseport
