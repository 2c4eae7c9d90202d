/* mpi_hello: each rank reports its host name and its one non-loopback IPv4 address; rank 0
 * prints them in rank order, then checks an MPI_Allreduce (sum of ranks = n(n-1)/2).
 * Exit status 0 only if the collective's result is right. */
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <mpi.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define LINE 256

static void first_ipv4(char *out, size_t len) {
  struct ifaddrs *ifs, *i;
  snprintf(out, len, "none");
  if (getifaddrs(&ifs) != 0) return;
  for (i = ifs; i; i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || strcmp(i->ifa_name, "lo") == 0) continue;
    inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, len);
    break;
  }
  freeifaddrs(ifs);
}

int main(int argc, char **argv) {
  int rank, size, sum = 0;
  char host[64], addr[64], line[LINE];
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  gethostname(host, sizeof host);
  first_ipv4(addr, sizeof addr);
  snprintf(line, LINE, "rank %d of %d on %s (%s) uid %d", rank, size, host, addr, (int)getuid());
  char all[64][LINE];
  MPI_Gather(line, LINE, MPI_CHAR, rank == 0 ? all : NULL, LINE, MPI_CHAR, 0, MPI_COMM_WORLD);
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  int ok = sum == size * (size - 1) / 2;
  if (rank == 0) {
    for (int r = 0; r < size && r < 64; r++) printf("%s\n", all[r]);
    printf("allreduce: sum of ranks = %d, expected %d: %s\n", sum, size * (size - 1) / 2,
           ok ? "OK" : "WRONG");
    fflush(stdout);
  }
  MPI_Finalize();
  return ok ? 0 : 1;
}
