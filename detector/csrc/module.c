/*
 * minewatch's compiled helpers, each with a pure-Python twin that gives identical
 * results (tests compare them; MINEWATCH_PURE=1 forces the Python versions):
 *
 *  - record walks for the capture readers (source/walk.py): the one loop that cannot be
 *    vectorised, because each record's length says where the next one starts;
 *  - the DNS response reader (dissect/dnsparse.py);
 *  - the TLS ClientHello field reader (dissect/tls/hello.py, parse_client_hello);
 *  - the header decoder of a record batch (decode.py).
 *
 * One compilation unit a stage (the .c files of detector/csrc/, shared helpers in fast.h); this one
 * is the module: its method table and PyInit.
 */

#include "fast.h"

static PyMethodDef methods[] = {
    {"fanout_owners", fanout_owners, METH_VARARGS, "The split-scan worker of each packet's flow."},
    {"walk_pcap", walk_pcap, METH_VARARGS, "Offsets of complete classic-pcap records."},
    {"walk_pcapng_epb", walk_pcapng_epb, METH_VARARGS, "Offsets of consecutive pcapng EPBs."},
    {"dns_response", dns_response, METH_O, "Questions, CNAMEs and addresses of a DNS response."},
    {"dns_answer_groups", dns_answer_groups, METH_VARARGS, "DNS responses of a batch, grouped."},
    {"client_hello_fields", client_hello_fields, METH_O, "Fields of a TLS ClientHello body."},
    {"client_hello_key", client_hello_key, METH_O, "A TLS ClientHello body's fingerprint cache key, SNI and ALPN."},
    {"server_hello_fields", server_hello_fields, METH_O, "Fields of a TLS ServerHello body."},
    {"tls_scan", tls_scan, METH_VARARGS, "Events of the complete TLS records at a stream's start."},
    {"tls_first", tls_first, METH_O, "A TLS side's first packet, read whole, events by kind."},
    {"tls_cut_point", tls_cut_point, METH_O, "Where a cut-short last handshake record starts and its whole messages end."},
    {"keep_stack_chunks", keep_stack_chunks, METH_NOARGS, "Keep a few freed 16 KB frame-stack chunks for reuse (arena.c)."},
    {"round6", round6, METH_O, "round(x, 6): the same float, without its decimal conversion."},
    {"tls_whole_messages", (PyCFunction)(void (*)(void))tls_whole_messages, METH_FASTCALL, "A held flight cut back to its whole messages (cut_at: tls_cut_point's)."},
    {"tls_walk_encrypted", (PyCFunction)(void (*)(void))tls_walk_encrypted, METH_FASTCALL, "The records of a side's bytes after encryption began."},
    {"hello_key", hello_key, METH_O, "ClientHello fingerprint cache key (GREASE folded)."},
    {"http_headers", http_headers, METH_VARARGS, "HTTP header fields of a message head (those named), as dpkt reads them."},
    {"http_head", http_head, METH_VARARGS, "An HTTP message head's start line and its fields (those named)."},
    {"pdns_groups", pdns_groups, METH_VARARGS, "A batch's DNS answers into passive DNS."},
    {"decode_batch", decode_batch, METH_VARARGS, "Link, IP and transport headers of a batch."},
    {"decap_batch", decap_batch, METH_VARARGS, "Encapsulation headers of tunnel carriers."},
    {"flow_group", flow_group, METH_VARARGS, "Canonical keys and groups of a packet batch."},
    {"flow_update", flow_update, METH_VARARGS, "Add a batch's packets to their flow rows."},
    {"carrier_rows", carrier_rows, METH_VARARGS, "The tunnel carriers of a decoded level."},
    {"flow_fill", flow_fill, METH_VARARGS, "Fill the rows of a batch's new flows."},
    {"flow_verify", flow_verify, METH_VARARGS, "Drop the slots whose stored tuple differs."},
    {"sweep_flags", sweep_flags, METH_VARARGS, "What the sweep decides of each used flow."},
    {"flow_behaviour", flow_behaviour, METH_VARARGS, "Messages, pushes and answers of TCP flows."},
    {"record_behaviours", record_behaviours, METH_VARARGS, "The packed behaviour of ending flows' records."},
    {"family_keys", family_keys, METH_VARARGS, "The rule candidates' lookup keys of records."},
    {"trees_raw", trees_raw, METH_VARARGS, "Raw scores of boosted trees, row by row."},
    {"behaviour_features", behaviour_features, METH_VARARGS, "The model's behaviour columns of packed records."},
    {"record_rows", record_rows, METH_VARARGS, "The model's counts and TLS values of records."},
    {"count_features", count_features, METH_VARARGS, "The model's count columns of records."},
    {"index_drop", index_drop, METH_VARARGS, "The key index without the entries of some slots."},
    {"index_merge", index_merge, METH_VARARGS, "The key index with new entries merged in."},
    {"zero_rows", zero_rows, METH_VARARGS, "Zero the rows of flow-table columns."},
    {"inspect_cols", inspect_cols, METH_VARARGS, "The columns feed_packets takes for a round."},
    {"inspect_triage", inspect_triage, METH_VARARGS, "Packets of a batch the dissectors must see."},
    {"rank_within", rank_within, METH_VARARGS, "Each packet's place among its flow's."},
    {"round_pick", round_pick, METH_VARARGS, "The candidates of one feeding round."},
    {"feed_packets", feed_packets, METH_VARARGS, "A round of packets to the Inspector, skipping done sides."},
    {"aes128_block", aes128_block_py, METH_VARARGS, "AES-128 encryption of one 16-byte block."},
    {"aes128_gcm_open", aes128_gcm_open, METH_VARARGS, "AES-128-GCM decryption, None on a bad tag."},
    {"quic_client_keys", quic_client_keys, METH_VARARGS, "A QUIC client's Initial secret and hp key."},
    {"quic_key_iv", quic_key_iv, METH_VARARGS, "AES-GCM key and IV of a QUIC traffic secret."},
    {"fresh_copy", fresh_copy, METH_O, "A slotted object's copy with fresh empty containers."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "detector._fast", "minewatch's compiled helpers.", -1, methods,
};

PyMODINIT_FUNC PyInit__fast(void) { return PyModule_Create(&module); }
