#!/bin/sh
# guest-init.sh STATE HOSTNAME HOME UID SSHD-COMMAND...
#
# The only shell code of the namespaces guest driver that runs as root. The driver starts it as
#   nsenter --net=/run/netns/lg-ID -- unshare --mount --uts --ipc --pid --fork --kill-child \
#       --propagation private /bin/sh STATE/guest-init.sh STATE HOSTNAME HOME UID SSHD-COMMAND...
# so it runs as pid 1 of the guest's new PID namespace, in fresh mount, UTS and IPC namespaces,
# inside the guest's network namespace. Mounts made here are private to the guest: the host never
# sees them, and they vanish with the last process of the guest. It builds the guest's root with
# one `mount -a` of STATE/fstab (written by the driver; one process for all of these mounts),
#   STATE/root   overlayfs: lower = host /, upper = STATE/upper (private, removed at destroy)
#   /dev         the host's /dev (rbind), with a private tmpfs on /dev/shm
#   /proc /sys   the guest's own (its PID and network namespace), /sys read-only
#   /run         a private tmpfs (sshd's privilege separation directory lives there)
#   HOME         the user's home, shared with the host (bind), and the shared paths (rbind)
#   HOME/.ssh    STATE/ssh, the guest's private ssh directory, hiding the host's ~/.ssh; mounted
#                on the directory itself (pinned as the working directory, checked to be a real
#                directory owned by UID), never through a symbolic link the user swapped in
#   /etc/lambdagrid  STATE/etc, read-only: sshd config, host key, hostfile
#   /etc/hosts   STATE/etc/hosts
# sets the hostname, signals readiness by creating STATE/ready, and becomes a minimal init
# chrooted in the guest root (it reaps orphans and exits on TERM; killing it ends the guest).
# Its first act in the guest root is to start the guest's sshd (SSHD-COMMAND, the driver's
# `sshd -D -e -f CONFIG`; output appended to STATE/sshd.log): as its child, in every namespace
# and the root of the guest, with no process to enter them. The driver enters the guest with nsenter --target
# <this pid> --root (the command; sshd again if it died), so after STATE/ready it also waits
# until this process runs the chrooted loop (/bin/sh -c ...): only then is its root the guest's.
set -eu
# Tools from the system's directories only, whatever PATH root was started with.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
state=$1 name=$2 home=$3 uid=$4
shift 4
root=$state/root

mount --all --fstab "$state/fstab"
# HOME is the user's, so HOME/.ssh may change under us: cd pins the directory, then it is checked
# (a directory, owned by the user, not a link now), and mount(2) gets "." relative to it
# (--no-canonicalize: mount(8) must not turn it back into a path to look up again).
sshdir=$root$home/.ssh
if ! cd -P -- "$sshdir" 2>/dev/null; then
  echo "guest-init: $home/.ssh is not a directory; the guest's private ~/.ssh is mounted over it" >&2
  exit 1
fi
if [ -L "$sshdir" ] || [ "$(stat -c '%u %F' .)" != "$uid directory" ]; then
  echo "guest-init: $home/.ssh is not a real directory owned by uid $uid (a symbolic link, or another owner); not mounting over it" >&2
  exit 1
fi
mount --no-canonicalize --bind "$state/ssh" .
cd /
# In the guest's own UTS namespace: sets its hostname without a process.
echo "$name" > /proc/sys/kernel/hostname
# sshd's log, opened here: the state directory is not in the guest's root.
exec 3>> "$state/sshd.log"
: > "$state/ready"
exec chroot "$root" /bin/sh -c 'trap "exit 0" TERM INT
"$@" < /dev/null >&3 2>&3 3>&- &
exec 3>&-
while :; do sleep 3600 & wait $! || :; done' guest-init "$@"
