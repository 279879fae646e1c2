# Starling's additions to Zeek's default (base) scripts, loaded when Starling runs
# Zeek on a capture or an interface (agent/inputs/zeek_scripts.py checks it parses
# first: `zeek -a`). Zeek's own policy scripts for what the detectors read:
#   * conn.log `orig_l2_addr` / `resp_l2_addr` — MAC addresses (device changing IP);
#   * ssl.log `validation_status` — "self signed certificate" and friends;
#   * notice.log `SSH::Password_Guessing`.
# (JA3 / JA3S: ja3.zeek.)

@load policy/protocols/conn/mac-logging
@load policy/protocols/ssl/validate-certs
@load policy/protocols/ssh/detect-bruteforcing
