"""tlsrpt-tui: watch SMTP TLS Reporting, MTA-STS and DANE for your mail domains."""

__version__ = "0.1.0"
