"""Getting reports to editors where they work: chat, email, webhooks."""
