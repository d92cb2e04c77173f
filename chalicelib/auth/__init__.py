"""Who is calling: visitor and staff tokens, and the local development identity provider."""
