# dlb-agent %pre: the dlb system user the unit runs as.
getent group dlb >/dev/null || groupadd -r dlb
getent passwd dlb >/dev/null || \
    useradd -r -g dlb -d /nonexistent -M -s /sbin/nologin -c "dlb load balancer agent" dlb
exit 0
