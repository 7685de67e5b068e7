import { describe, expect, it } from 'bun:test'
import { createTickets } from '../../src/auth/tickets.ts'

describe('tickets', () => {
	const tickets = createTickets(new Uint8Array(32).fill(7))

	it('live at least the ttl asked for, whatever the fraction of the second they were issued in', () => {
		for (const now of [1_700_000_000_000, 1_700_000_000_001, 1_700_000_000_999]) {
			const { ticket, expiresAt } = tickets.issue(['agents/*'], 1, now)
			expect(Date.parse(expiresAt)).toBeGreaterThanOrEqual(now + 1_000)
			expect(tickets.verify(ticket, now + 999)).toBeDefined()
			expect(tickets.verify(ticket, Date.parse(expiresAt))).toBeUndefined()
		}
	})
})
