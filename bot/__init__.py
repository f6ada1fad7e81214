"""ticketbot: a Slack chat-ops bot for tickets across several helpdesk backends."""
