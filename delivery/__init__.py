"""Delivery: published variants to where shoppers see them (Shopify product media, Merchant and Meta feeds)."""
