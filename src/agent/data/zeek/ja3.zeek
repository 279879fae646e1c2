# JA3 / JA3S for ssl.log, loaded when Starling runs Zeek (Zeek has no built-in JA3);
# matched against the JA3 threat-intel feeds. Written here from the published method:
#
# JA3: the ClientHello's legacy version, cipher suites, extension types, supported
# groups (elliptic curves) and EC point formats, each list as decimal values joined by
# "-", the five fields joined by ",", then MD5; GREASE values (RFC 8701) are left out.
# JA3S: the ServerHello's version, chosen cipher and extension types, the same way.
# The pieces arrive as separate events whose order differs between Zeek versions, so
# they are collected per connection and hashed when the ssl.log record is written
# (ssl_established, or the connection's end). A separate file from starling.zeek so
# that a Zeek whose event signatures differ loses only the fingerprints
# (agent/inputs/zeek_scripts.py checks each file parses: `zeek -a`).

@load base/protocols/ssl

module StarlingJA3;

export {
    redef record SSL::Info += {
        ja3: string &log &optional;
        ja3s: string &log &optional;
    };
}

type HelloParts: record {
    version: count &default=0;
    ciphers: string &default="";
    extensions: string &default="";
    curves: string &default="";
    points: string &default="";
};

redef record connection += {
    starling_client: HelloParts &optional;
    starling_server: HelloParts &optional;
};

const grease: set[count] = {
    2570, 6682, 10794, 14906, 19018, 23130, 27242, 31354,
    35466, 39578, 43690, 47802, 51914, 56026, 60138, 64250
};

function dash_joined(values: index_vec): string
    {
    local out = "";
    for ( i in values )
        {
        if ( values[i] in grease )
            next;
        if ( out == "" )
            out = cat(values[i]);
        else
            out = cat(out, "-", values[i]);
        }
    return out;
    }

function client_parts(c: connection): HelloParts
    {
    if ( ! c?$starling_client )
        c$starling_client = HelloParts();
    return c$starling_client;
    }

function server_parts(c: connection): HelloParts
    {
    if ( ! c?$starling_server )
        c$starling_server = HelloParts();
    return c$starling_server;
    }

event ssl_client_hello(c: connection, version: count, record_version: count, possible_ts: time,
                       client_random: string, session_id: string, ciphers: index_vec,
                       comp_methods: index_vec) &priority=5
    {
    local p = client_parts(c);
    p$version = version;
    p$ciphers = dash_joined(ciphers);
    }

event ssl_server_hello(c: connection, version: count, record_version: count, possible_ts: time,
                       server_random: string, session_id: string, cipher: count,
                       comp_method: count) &priority=5
    {
    local p = server_parts(c);
    p$version = version;
    p$ciphers = cat(cipher);
    }

event ssl_extension(c: connection, is_client: bool, code: count, val: string) &priority=5
    {
    if ( code in grease )
        return;
    local p = is_client ? client_parts(c) : server_parts(c);
    if ( p$extensions == "" )
        p$extensions = cat(code);
    else
        p$extensions = cat(p$extensions, "-", code);
    }

event ssl_extension_elliptic_curves(c: connection, is_client: bool, curves: index_vec) &priority=5
    {
    if ( ! is_client )
        return;
    local p = client_parts(c);
    p$curves = dash_joined(curves);
    }

event ssl_extension_ec_point_formats(c: connection, is_client: bool,
                                     point_formats: index_vec) &priority=5
    {
    if ( ! is_client )
        return;
    local p = client_parts(c);
    p$points = dash_joined(point_formats);
    }

function fingerprint(c: connection)
    {
    if ( ! c?$ssl )
        return;
    if ( c?$starling_client && ! c$ssl?$ja3 )
        {
        local p = c$starling_client;
        c$ssl$ja3 = md5_hash(cat(p$version, ",", p$ciphers, ",", p$extensions, ",",
                                 p$curves, ",", p$points));
        }
    if ( c?$starling_server && ! c$ssl?$ja3s )
        {
        local s = c$starling_server;
        c$ssl$ja3s = md5_hash(cat(s$version, ",", s$ciphers, ",", s$extensions));
        }
    }

# Base SSL writes its log at priority -5 in both events: fill the fields before.
event ssl_established(c: connection) &priority=5
    {
    fingerprint(c);
    }

event connection_state_remove(c: connection) &priority=5
    {
    fingerprint(c);
    }
