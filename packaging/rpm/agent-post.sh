# dlb-agent %post: the folders the agent writes (config write-back, access log), as the
# Debian postinst does (packaging/debian/agent/postinst says why).
chown root:dlb /etc/dlb && chmod 0770 /etc/dlb
if [ "$(stat -c %U /etc/dlb/agent.json 2>/dev/null)" = root ]; then
    chown root:dlb /etc/dlb/agent.json && chmod 0640 /etc/dlb/agent.json
fi
mkdir -p /var/log/dlb && chown dlb:dlb /var/log/dlb && chmod 2750 /var/log/dlb
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
exit 0
