"""The simulated market: a priced option market (`SimMarket`), a broker on it (`SimBroker`) and
market data from it and the bundled history (`SimMarketData`)."""
