"""Backend clients: one module per vendor behind the TicketBackend Protocol (``base``)."""
