"""The mail seams: the SMTP send, the IMAP mailbox, the Sent folder, TLS and the network guard."""
